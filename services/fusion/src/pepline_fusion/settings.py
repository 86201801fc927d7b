"""Fusion configuration from PEPLINE_* environment variables (12-factor)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from pepline_shared.policy import PolicyBook
from pepline_shared.settings import ServiceSettings

__all__ = ["FusionSettings"]


class FusionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PEPLINE_", extra="ignore")

    policy_file: Path | None = Field(
        None, description="users' privacy policies (YAML, see pepline_shared.policy)"
    )
    group_id: str = "pepline-fusion"
    tick_interval: float = Field(1.0, gt=0, le=60, description="seconds between time checks")
    poll_ms: int = Field(200, ge=10, le=10_000)

    def policies(self) -> PolicyBook:
        """The policy book (everyone gets the default policy without a file)."""
        return PolicyBook.load(self.policy_file) if self.policy_file else PolicyBook()
