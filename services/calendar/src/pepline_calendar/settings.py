"""Calendar adapter configuration: PEPLINE_* variables plus the users and their calendars.

The users (JID, time zone, opt-in, calendar sources) are structured, so they come as JSON in
``PEPLINE_CALENDAR_USERS`` or from a TOML/JSON file named by ``PEPLINE_CALENDAR_USERS_FILE``
(both may be used; the lists are joined). A password is given inline (``password``), or
better read from a file (``password_file``, e.g. a mounted Kubernetes secret).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from pepline_calendar.classify import Keywords
from pepline_calendar.errors import ConfigError
from pepline_calendar.schedule import DEFAULT_PRECEDENCE
from pepline_shared.errors import InvalidJID
from pepline_shared.events import CalendarStatus
from pepline_shared.jid import bare_jid
from pepline_shared.settings import ServiceSettings

__all__ = ["CalendarSettings", "SourceConfig", "UserConfig", "load_users"]


class SourceConfig(BaseModel):
    """One calendar source of a user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="short name, shown as the event's calendar",
    )
    type: Literal["ics", "caldav"]
    url: str = Field(
        min_length=1,
        description="ics: path, file://, http(s):// or webcal:// "
        "URL; caldav: a calendar collection, or a server/principal URL to use all "
        "of the user's calendars",
    )
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    calendars: tuple[str, ...] = Field(
        (), description="caldav: only these collections (id or display name); empty = all"
    )
    allow_insecure_http: bool = Field(False, description="send credentials over plain http")
    verify_tls: bool = True

    def secret(self) -> str | None:
        """The password, read from ``password_file`` if given (at each call: rotation)."""
        if self.password_file is not None:
            try:
                return self.password_file.read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"source {self.name}: cannot read password_file: {exc.strerror}"
                ) from exc
        return self.password.get_secret_value() if self.password is not None else None


class UserConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    jid: str
    timezone: str = Field("UTC", description="IANA zone for floating times and all-day events")
    share_details: bool = Field(False, description="opt-in: publish event titles and locations")
    emails: tuple[str, ...] = Field(
        (), description="the user's addresses: meetings they declined do not make them busy"
    )
    keywords: Keywords | None = Field(None, description="overrides the service's keywords")
    sources: tuple[SourceConfig, ...] = Field(min_length=1)

    @field_validator("jid")
    @classmethod
    def _jid(cls, value: str) -> str:
        try:
            return bare_jid(value)
        except InvalidJID as exc:
            raise ValueError(str(exc)) from None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    @field_validator("sources")
    @classmethod
    def _unique(cls, value: tuple[SourceConfig, ...]) -> tuple[SourceConfig, ...]:
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique per user: {names}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class CalendarSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PEPLINE_", extra="ignore")

    calendar_users: tuple[UserConfig, ...] = ()
    calendar_users_file: Path | None = None
    poll_interval: float = Field(300.0, ge=1, description="seconds between polls of a source")
    horizon_days: float = Field(7.0, gt=0, le=366, description="how far ahead to plan")
    republish_interval: float = Field(
        900.0, ge=0, description="re-send the current state this often (s); 0 = only changes"
    )
    fetch_timeout: float = Field(30.0, gt=0, description="seconds per HTTP/CalDAV request")
    max_calendar_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    poll_concurrency: int = Field(8, ge=1, le=256)
    keywords: Keywords = Field(default_factory=Keywords)
    precedence: tuple[CalendarStatus, ...] = DEFAULT_PRECEDENCE

    @field_validator("precedence")
    @classmethod
    def _precedence(cls, value: tuple[CalendarStatus, ...]) -> tuple[CalendarStatus, ...]:
        expected = set(CalendarStatus) - {CalendarStatus.FREE}
        if set(value) != expected or len(value) != len(expected):
            raise ValueError(f"precedence must order exactly {sorted(s.value for s in expected)}")
        return value


def _read_users_file(path: Path) -> list[Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from exc
    try:
        data: Any = (
            json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw.decode())
        )
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, TOMLDecodeError
        raise ConfigError(f"{path}: {exc}") from exc
    users = data.get("users") if isinstance(data, dict) else data
    if not isinstance(users, list):
        raise ConfigError(f"{path}: expected a list of users (a [[users]] table)")
    return users


def load_users(settings: CalendarSettings) -> tuple[UserConfig, ...]:
    """Every configured user: the inline ones, then the file's; each JID at most once."""
    users = list(settings.calendar_users)
    if settings.calendar_users_file is not None:
        for index, item in enumerate(_read_users_file(settings.calendar_users_file)):
            try:
                users.append(UserConfig.model_validate(item))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ConfigError(
                    f"{settings.calendar_users_file}: users[{index}].{where}: {first['msg']}"
                ) from None
    jids = [u.jid for u in users]
    duplicates = sorted({j for j in jids if jids.count(j) > 1})
    if duplicates:
        raise ConfigError(f"users configured twice: {', '.join(duplicates)}")
    return tuple(users)
