"""GPS adapter configuration from PEPLINE_* environment variables (12-factor).

``PEPLINE_GPS_DEVICES`` is a JSON list binding each receiver (a gpsd, optionally one device
path of it) to the user whose position it is, e.g.::

    [{"gpsd": "127.0.0.1:2947", "user": "alice@pepline.test", "device": "car",
      "precision": "grid:500", "filters": {"min_distance": 100}}]

``precision`` and ``filters`` are optional per device and override the global
``PEPLINE_GPS_PRECISION`` and ``PEPLINE_GPS_MIN_DISTANCE`` etc. A value of 0 disables a
filter.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from pepline_gps.filters import FilterConfig
from pepline_gps.precision import Precision, parse_precision
from pepline_gps.tracker import Binding
from pepline_shared.errors import InvalidJID
from pepline_shared.jid import bare_jid
from pepline_shared.settings import ServiceSettings

__all__ = ["DEFAULT_GPSD_PORT", "DeviceConfig", "DeviceFilters", "GpsSettings", "parse_hostport"]

DEFAULT_GPSD_PORT = 2947


def parse_hostport(value: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``host`` (port 2947); ``ValueError`` otherwise."""
    text = value.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{value!r}: expected [ipv6]:port")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif ":" in text:
        raise ValueError(f"{value!r}: write an IPv6 address as [addr]:port")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"{value!r}: no host")
    try:
        port = int(port_text) if port_text else DEFAULT_GPSD_PORT
    except ValueError:
        raise ValueError(f"{value!r}: port {port_text!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{value!r}: port {port} is not 1..65535")
    return host, port


class DeviceFilters(BaseModel):
    """Per-device overrides of the global filter settings (absent: the global value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_distance: float | None = Field(None, ge=0)
    min_interval: float | None = Field(None, ge=0)
    heartbeat: float | None = Field(None, ge=0)
    max_speed: float | None = Field(None, ge=0)
    max_accuracy: float | None = Field(None, ge=0)
    max_time_jump: float | None = Field(None, ge=0)
    lost_fix_after: float | None = Field(None, ge=0)


class DeviceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    gpsd: str = Field(description="gpsd address, host:port")
    user: str = Field(description="bare JID of the user whose position this is")
    device: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="device name: event source /pepline/gps/<device>, metrics label",
    )
    path: str | None = Field(None, description="one receiver of a multi-device gpsd")
    precision: str | None = Field(None, description="exact | round:<decimals> | grid:<metres>")
    filters: DeviceFilters = Field(default_factory=DeviceFilters)

    @field_validator("gpsd")
    @classmethod
    def _gpsd(cls, value: str) -> str:
        parse_hostport(value)
        return value.strip()

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        try:
            return bare_jid(value)
        except InvalidJID as exc:
            raise ValueError(str(exc)) from None

    @field_validator("precision")
    @classmethod
    def _precision(cls, value: str | None) -> str | None:
        if value is not None:
            parse_precision(value)
        return value

    @property
    def host(self) -> str:
        return parse_hostport(self.gpsd)[0]

    @property
    def port(self) -> int:
        return parse_hostport(self.gpsd)[1]


class GpsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PEPLINE_", extra="ignore")

    gps_devices: list[DeviceConfig] = Field(
        default_factory=list, description="JSON list of {gpsd, user, device[, path, ...]}"
    )
    gps_min_distance: float = Field(50.0, ge=0, description="metres moved before republishing")
    gps_min_interval: float = Field(30.0, ge=0, description="seconds between published fixes")
    gps_heartbeat: float = Field(900.0, ge=0, description="republish unmoved after (s)")
    gps_max_speed: float = Field(150.0, ge=0, description="jump filter, m/s")
    gps_max_accuracy: float = Field(100.0, ge=0, description="accuracy ceiling, metres")
    gps_max_time_jump: float = Field(300.0, ge=0, description="fix time ahead of real time (s)")
    gps_lost_fix_after: float = Field(300.0, ge=0, description="clear the position after (s)")
    gps_precision: str = Field("exact", description="exact | round:<decimals> | grid:<metres>")
    gps_epoch_wait: float = Field(1.0, gt=0, le=10, description="wait for an epoch's reports")
    gps_idle_timeout: float = Field(30.0, gt=0, description="probe a silent gpsd after (s)")
    gps_reconnect_max: float = Field(30.0, gt=0, description="longest reconnect back-off (s)")
    gps_buffer: int = Field(1000, ge=1, description="events buffered per device (Kafka down)")

    @field_validator("gps_precision")
    @classmethod
    def _precision(cls, value: str) -> str:
        parse_precision(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        names = [d.device for d in self.gps_devices]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"device names must be unique: {dupes}")
        self.global_filters()  # FilterConfig checks combinations (heartbeat >= interval)
        for device in self.gps_devices:
            try:
                self.filters_for(device)
            except ValueError as exc:
                raise ValueError(f"device {device.device!r}: {exc}") from None
        return self

    def global_filters(self) -> FilterConfig:
        return FilterConfig(
            min_distance=self.gps_min_distance,
            min_interval=self.gps_min_interval,
            heartbeat=self.gps_heartbeat,
            max_speed=self.gps_max_speed,
            max_accuracy=self.gps_max_accuracy,
            max_time_jump=self.gps_max_time_jump,
            lost_fix_after=self.gps_lost_fix_after,
        )

    def filters_for(self, device: DeviceConfig) -> FilterConfig:
        overrides: dict[str, Any] = device.filters.model_dump(exclude_none=True)
        return dataclasses.replace(self.global_filters(), **overrides)

    def precision_for(self, device: DeviceConfig) -> Precision:
        return parse_precision(device.precision or self.gps_precision)

    def binding(self, device: DeviceConfig) -> Binding:
        return Binding(
            user=device.user,
            device=device.device,
            filters=self.filters_for(device),
            precision=self.precision_for(device),
        )
