"""Publisher configuration from PEPLINE_* environment variables (12-factor)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from pepline_shared.settings import ServiceSettings

__all__ = ["PublisherSettings"]


class PublisherSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PEPLINE_", extra="ignore")

    route: Literal["affiliation", "privileged"] = Field(
        "affiliation", description="how pepline is authorized to publish (see README)"
    )
    xmpp_host: str = "127.0.0.1"
    xmpp_port: int = Field(15222, description="c2s port (affiliation) or component port")
    xmpp_jid: str = Field("pepline@pepline.test", description="publisher account (affiliation)")
    xmpp_password: SecretStr = SecretStr("")
    xmpp_ca_file: Path | None = None
    xmpp_verify: bool = True
    component_jid: str = Field("publisher.pepline.test", description="component (privileged)")
    component_secret: SecretStr = SecretStr("")
    group_id: str = "pepline-publisher"
    window: int = Field(64, ge=1, le=4096, description="publishes in flight at once")
    min_interval: float = Field(0.0, ge=0, description="seconds between publishes per node")
    max_pending_lanes: int = Field(10_000, ge=1)
    legacy_avatar: bool = False
    access_model: Literal["presence", "roster", "whitelist", ""] = Field(
        "presence",
        description="publish-options precondition (privileged route auto-creates nodes)",
    )
