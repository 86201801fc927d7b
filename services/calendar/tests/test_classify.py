"""What an occurrence means (busy, out of office, vacation, travelling) and what may be shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pepline_calendar.classify import Classifier, Keywords, public_text
from pepline_calendar.expand import Occurrence
from pepline_shared.events import CalendarStatus

START = datetime(2025, 5, 5, 8, tzinfo=UTC)


def occ(
    summary: str | None = "Meeting",
    *,
    categories: tuple[str, ...] = (),
    busy_status: str | None = None,
    location: str | None = None,
) -> Occurrence:
    return Occurrence(
        start=START,
        end=START + timedelta(hours=1),
        uid="u",
        calendar="work",
        summary=summary,
        location=location,
        categories=categories,
        busy_status=busy_status,
        all_day=False,
    )


@pytest.mark.parametrize(
    ("summary", "categories", "busy_status", "expected"),
    [
        ("Weekly sync", (), None, CalendarStatus.BUSY),
        (None, (), None, CalendarStatus.BUSY),
        ("Urlaub Mallorca", (), None, CalendarStatus.VACATION),
        ("Public HOLIDAY", (), None, CalendarStatus.VACATION),
        ("Flight to Oslo (LH 858)", (), None, CalendarStatus.TRAVELLING),
        ("Business trip Hamburg", (), None, CalendarStatus.TRAVELLING),
        ("OOO - dentist", (), None, CalendarStatus.OUT_OF_OFFICE),
        ("Conference", ("Travel", "Business"), None, CalendarStatus.TRAVELLING),
        ("Company offsite", ("Vacation",), None, CalendarStatus.VACATION),
        # categories win over the title
        ("Flight home", ("Holidays",), None, CalendarStatus.VACATION),
        # whole words only: "Trip" is travelling, "Tripod review" and "Holidayinn" are not
        ("Tripod review", (), None, CalendarStatus.BUSY),
        ("Holidayinn partnership call", (), None, CalendarStatus.BUSY),
        # Outlook/Exchange busy status
        ("Arzttermin", (), "OOF", CalendarStatus.OUT_OF_OFFICE),
        ("Urlaub", (), "OOF", CalendarStatus.VACATION),
        ("Sync", (), "TENTATIVE", CalendarStatus.BUSY),
    ],
)
def test_status(
    summary: str | None,
    categories: tuple[str, ...],
    busy_status: str | None,
    expected: CalendarStatus,
) -> None:
    assert Classifier().status(occ(summary, categories=categories, busy_status=busy_status)) is (
        expected
    )


def test_outlook_free_takes_no_time() -> None:
    assert Classifier().status(occ("Lunch", busy_status="FREE")) is None
    assert Classifier().classify(occ("Lunch", busy_status="FREE"), share_details=True) is None


def test_configurable_keywords() -> None:
    keywords = Keywords(vacation=("sabbatical",), out_of_office=(), travelling=("zug",))
    classifier = Classifier(keywords)
    assert classifier.status(occ("Sabbatical month")) is CalendarStatus.VACATION
    assert classifier.status(occ("Zug nach Köln")) is CalendarStatus.TRAVELLING
    assert classifier.status(occ("Urlaub")) is CalendarStatus.BUSY  # default list replaced
    assert classifier.status(occ("OOO")) is CalendarStatus.BUSY  # empty list: no match


def test_titles_and_locations_stay_private_without_opt_in() -> None:
    occurrence = occ("Therapy session", location="Dr. Smith, Main St 4")
    private = Classifier().classify(occurrence, share_details=False)
    shared = Classifier().classify(occurrence, share_details=True)
    assert private is not None and shared is not None
    assert (private.summary, private.location) == (None, None)
    assert (shared.summary, shared.location) == ("Therapy session", "Dr. Smith, Main St 4")
    assert private.status is shared.status is CalendarStatus.BUSY


def test_shared_text_is_made_xml_safe_and_cut_to_the_model_limits() -> None:
    assert public_text("Bell\x07 rings\x00", 100) == "Bell rings"
    assert public_text("  \x01 ", 100) is None
    long = public_text("x" * 5000, 4096)
    assert long is not None and len(long) == 4096 and long.endswith("…")
    assert public_text(None, 10) is None
