"""What an occurrence means for the user's availability, and what of it may be shown.

The state comes, in this order, from:

1. the event's CATEGORIES (set by the user on purpose: "Vacation", "Travel", ...), matched
   against the configured keywords;
2. keywords in its title (whole words or phrases, case-insensitive: "Flight to Oslo" is
   travelling, "Training" is not "train");
3. Outlook/Exchange's X-MICROSOFT-CDO-BUSYSTATUS: OOF is out of office, FREE takes no time
   (the same as TRANSP:TRANSPARENT);
4. otherwise: busy (a meeting).

Titles and locations are used for this locally; they leave the adapter only when the user
opted in (``share_details``), cleaned of what XML cannot carry and cut to the event model's
limits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from pepline_calendar.expand import Occurrence
from pepline_shared.events import CalendarStatus

__all__ = ["Busy", "Classifier", "Keywords", "public_text"]

# XML 1.0 §2.2: characters that cannot appear in a document (the event model refuses them).
_XML_ILLEGAL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
SUMMARY_MAX: Final = 4096
LOCATION_MAX: Final = 1024


class Keywords(BaseModel):
    """Words and phrases that mark an event; matched in CATEGORIES first, then in the title."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vacation: tuple[str, ...] = Field(
        (
            "vacation",
            "holiday",
            "holidays",
            "annual leave",
            "pto",
            "urlaub",
            "ferien",
            "congés",
            "vacances",
            "vacaciones",
        ),
    )
    out_of_office: tuple[str, ...] = Field(
        (
            "out of office",
            "ooo",
            "oof",
            "sick",
            "sick leave",
            "day off",
            "abwesend",
            "abwesenheit",
            "krank",
            "absent",
        ),
    )
    travelling: tuple[str, ...] = Field(
        (
            "travel",
            "travelling",
            "traveling",
            "trip",
            "business trip",
            "flight",
            "dienstreise",
            "reise",
            "flug",
            "voyage",
        ),
    )


@dataclass(frozen=True)
class Busy:
    """An occurrence that takes the user's time, with its state and its shareable details."""

    occurrence: Occurrence
    status: CalendarStatus
    summary: str | None
    location: str | None


def _pattern(words: Sequence[str]) -> re.Pattern[str] | None:
    cleaned = [w.strip().casefold() for w in words if w.strip()]
    if not cleaned:
        return None
    # Longest first so "business trip" wins over "trip" (same state anyway, but cheaper).
    alternatives = "|".join(re.escape(w) for w in sorted(cleaned, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def public_text(value: str | None, limit: int) -> str | None:
    """``value`` made safe for the event model: XML-legal and at most ``limit`` characters."""
    if value is None:
        return None
    cleaned = _XML_ILLEGAL.sub("", value).strip()
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned or None


class Classifier:
    def __init__(self, keywords: Keywords | None = None) -> None:
        kw = keywords or Keywords()
        self._rules: list[tuple[CalendarStatus, re.Pattern[str]]] = [
            (status, pattern)
            for status, words in (
                (CalendarStatus.VACATION, kw.vacation),
                (CalendarStatus.OUT_OF_OFFICE, kw.out_of_office),
                (CalendarStatus.TRAVELLING, kw.travelling),
            )
            if (pattern := _pattern(words)) is not None
        ]

    def _match(self, texts: Sequence[str]) -> CalendarStatus | None:
        for status, pattern in self._rules:
            if any(pattern.search(text.casefold()) for text in texts):
                return status
        return None

    def status(self, occurrence: Occurrence) -> CalendarStatus | None:
        """The state the occurrence puts the user in; ``None`` if it takes no time."""
        if occurrence.busy_status == "FREE":
            return None
        found = self._match(occurrence.categories)
        if found is None and occurrence.summary:
            found = self._match([occurrence.summary])
        if found is not None:
            return found
        if occurrence.busy_status == "OOF":
            return CalendarStatus.OUT_OF_OFFICE
        return CalendarStatus.BUSY

    def classify(self, occurrence: Occurrence, *, share_details: bool) -> Busy | None:
        status = self.status(occurrence)
        if status is None:
            return None
        if not share_details:
            return Busy(occurrence, status, None, None)
        return Busy(
            occurrence,
            status,
            public_text(occurrence.summary, SUMMARY_MAX),
            public_text(occurrence.location, LOCATION_MAX),
        )
