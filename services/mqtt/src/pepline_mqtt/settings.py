"""MQTT adapter configuration from PEPLINE_* environment variables (12-factor).

Connection and limits are variables; devices, places, rooms and sensor mappings are in the
mapping file named by ``PEPLINE_MQTT_CONFIG`` (:mod:`pepline_mqtt.config`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from pepline_mqtt.router import Limits
from pepline_shared.settings import ServiceSettings

__all__ = ["MqttSettings"]


class MqttSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PEPLINE_", extra="ignore")

    mqtt_config: Path | None = Field(None, description="mapping file (YAML or JSON)")
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(1883, ge=1, le=65535)
    mqtt_client_id: str = Field(
        "pepline-mqtt", min_length=1, description="also names the persistent session"
    )
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_protocol: Literal["3.1.1", "5"] = "5"
    mqtt_keepalive: int = Field(30, ge=5, le=65535)
    mqtt_session_expiry: int = Field(
        7 * 24 * 3600, ge=1, description="seconds the broker keeps the session (MQTT 5)"
    )
    mqtt_receive_maximum: int = Field(
        100, ge=1, le=65535, description="unacknowledged messages in flight (MQTT 5)"
    )
    mqtt_reconnect_min: int = Field(1, ge=1, description="first reconnect delay, seconds")
    mqtt_reconnect_max: int = Field(30, ge=1, description="longest reconnect delay, seconds")
    mqtt_tls: bool = False
    mqtt_ca_file: Path | None = Field(None, description="CA bundle for the broker's certificate")
    mqtt_cert_file: Path | None = Field(None, description="client certificate (mutual TLS)")
    mqtt_key_file: Path | None = None
    mqtt_tls_insecure: bool = Field(False, description="skip the host name check (never in prod)")
    owntracks_secret: SecretStr | None = Field(
        None, description="default OwnTracks encryption passphrase (per device in the file)"
    )
    max_payload_bytes: int = Field(64 * 1024, ge=256, le=16 * 1024 * 1024)
    max_age: float = Field(3600.0, gt=0, description="seconds: older timestamps are refused")
    max_future: float = Field(300.0, ge=0, description="seconds of clock skew tolerated")
    batch_size: int = Field(100, ge=1, le=10_000, description="messages per Kafka flush")
    sweep_interval: float = Field(5.0, gt=0, description="seconds between room expiry checks")

    @property
    def limits(self) -> Limits:
        return Limits(
            max_payload_bytes=self.max_payload_bytes,
            max_age=timedelta(seconds=self.max_age),
            max_future=timedelta(seconds=self.max_future),
        )
