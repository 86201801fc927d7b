"""Helpers for the calendar adapter's unit tests: the exported .ics fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pepline_calendar.parse import Document, ParsedCalendar, parse_document

FIXTURES = Path(__file__).parent / "fixtures"

Loader = Callable[[str], ParsedCalendar]


@pytest.fixture
def load() -> Loader:
    """Parse a fixture file; its calendar name is the file name, the origin its path."""

    def parse(name: str) -> ParsedCalendar:
        path = FIXTURES / name
        return parse_document(Document(name, name, "", "test"), path.read_bytes())

    return parse
