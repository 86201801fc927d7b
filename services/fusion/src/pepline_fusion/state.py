"""Fusion's per-user state and its record on the compacted state topic.

One record per user (key: the bare JID; value: this JSON; a tombstone — null value —
deletes it): the latest reading of each source, the selection, the switch history that
``explain`` shows, and what each view last published (so a restart neither republishes an
unchanged location nor forgets to clear one).
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pepline_fusion.readings import Reading
from pepline_fusion.select import Selection, Switch

__all__ = ["HISTORY_LIMIT", "STATE_VERSION", "StateError", "UserState"]

HISTORY_LIMIT: Final = 50
STATE_VERSION: Final = 1

#: What ``published`` records for a view whose item was cleared.
CLEARED: Final = ""


class StateError(ValueError):
    """A state record cannot be read (wrong version, malformed JSON)."""


class UserState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = STATE_VERSION
    user: str
    readings: dict[str, Reading] = Field(default_factory=dict)
    selection: Selection = Field(default_factory=Selection)
    history: list[Switch] = Field(default_factory=list)
    published: dict[str, str] = Field(
        default_factory=dict, description="view name → last payload JSON ('' = cleared)"
    )

    def record(self, switch: Switch) -> None:
        self.history.append(switch)
        del self.history[:-HISTORY_LIMIT]

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_defaults=False).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> UserState:
        try:
            state = cls.model_validate_json(raw)
        except ValidationError as exc:
            raise StateError(f"not a fusion state record: {exc.errors()[0]['msg']}") from None
        if state.version != STATE_VERSION:
            raise StateError(f"state version {state.version}, expected {STATE_VERSION}")
        return state
