"""Rule engine configuration from PEPLINE_* environment variables (12-factor)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from pepline_rules.loader import DEFAULT_RULES
from pepline_rules.service import QuietHours
from pepline_shared.policy import PolicyBook
from pepline_shared.settings import ServiceSettings

__all__ = ["RulesSettings"]


class RulesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PEPLINE_", extra="ignore")

    rules_file: Path = Field(DEFAULT_RULES, description="the YAML rules (default: built in)")
    rules_reload_interval: float = Field(
        5.0, ge=0, description="seconds between checks of the file for changes; 0 = SIGHUP only"
    )
    group_id: str = Field("pepline-rules", description="consumer group of the instances")
    poll_ms: int = Field(200, ge=10, le=10_000, description="longest wait for new records (ms)")
    state_restore_timeout: float = Field(
        30.0, gt=0, description="seconds to read the state topic on (re)assignment"
    )
    policy_file: Path | None = Field(
        None, description="users' privacy policies (quiet hours: no activity derived)"
    )

    def quiet_hours(self) -> QuietHours | None:
        """Whether a user is in quiet hours, from the policy file (None without one).

        A bad policy file raises :class:`~pepline_shared.policy.PolicyError` here, at start.
        """
        if self.policy_file is None:
            return None
        book = PolicyBook.load(self.policy_file)
        return lambda user, when: book.for_user(user).suppresses_activity(when)
