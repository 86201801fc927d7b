"""Whatever a calendar file contains, reading it reports problems and never raises otherwise."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pepline_calendar.errors import CalendarParseError
from pepline_calendar.expand import expand
from pepline_calendar.parse import Document, parse_document

FIXTURES = Path(__file__).parent / "fixtures"
NOISE = [":", ";", "=", '"', ",", "\\", "X", "0", "9", " ", "T", "Z", "-", "\x00", "é"]


def mutate(lines: list[str], rnd: random.Random) -> list[str]:
    """Delete, duplicate, cut, corrupt or truncate a few lines, as real breakage does."""
    lines = list(lines)
    for _ in range(rnd.randint(1, 4)):
        if not lines:
            break
        j = rnd.randrange(len(lines))
        match rnd.randint(0, 5):
            case 0:
                del lines[j]
            case 1:
                lines.insert(j, lines[rnd.randrange(len(lines))])
            case 2:
                k = rnd.randrange(len(lines[j]) + 1)
                lines[j] = lines[j][:k] + rnd.choice(NOISE) + lines[j][k + 1 :]
            case 3:
                lines[j] = lines[j][: rnd.randrange(len(lines[j]) + 1)]
            case 4:
                lines[j] = " " + lines[j]  # becomes a continuation of the previous line
            case _:
                lines = lines[:j]
    return lines


@pytest.mark.parametrize("seed", range(4))
def test_mutated_real_world_calendars_never_crash_the_reader(seed: int) -> None:
    rnd = random.Random(seed)
    sources = [p.read_text().splitlines() for p in sorted(FIXTURES.glob("*.ics"))]
    for _ in range(60):
        text = "\r\n".join(mutate(rnd.choice(sources), rnd))
        try:
            parsed = parse_document(Document("fuzz", "fuzz.ics", text, "v"))
        except CalendarParseError:
            continue  # the one error a reader may raise: nothing usable in the document
        expansion = expand(
            parsed,
            datetime(2025, 1, 1, tzinfo=UTC),
            datetime(2025, 12, 31, tzinfo=UTC),
            ZoneInfo("Europe/Berlin"),
        )
        for occurrence in expansion.occurrences:
            assert occurrence.start < occurrence.end
            assert occurrence.start.tzinfo is UTC
