"""The mood and activity enums are exactly the official schemas' element names."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pepline_shared.events import (
    ACTIVITY_TAXONOMY,
    GeneralActivity,
    MoodValue,
    SpecificActivity,
)

XS = "{http://www.w3.org/2001/XMLSchema}"


def _elements_of_type(xsd: Path, type_name: str) -> list[str]:
    root = ET.parse(xsd).getroot()  # noqa: S314 - the official schema files
    return [e.get("name", "") for e in root.iter(f"{XS}element") if e.get("type") == type_name]


def test_moods_match_the_schema(xep_schema_dir: Path) -> None:
    names = _elements_of_type(xep_schema_dir / "xep-0107-mood.xsd", "empty")
    assert len(names) == 80
    assert [m.value for m in MoodValue] == names


def test_activities_match_the_schema(xep_schema_dir: Path) -> None:
    xsd = xep_schema_dir / "xep-0108-activity.xsd"
    assert [g.value for g in GeneralActivity] == _elements_of_type(xsd, "general")
    assert [s.value for s in SpecificActivity] == _elements_of_type(xsd, "specific")


def test_taxonomy_covers_every_specific_activity() -> None:
    assert set(ACTIVITY_TAXONOMY) == set(GeneralActivity)
    listed = set().union(*ACTIVITY_TAXONOMY.values())
    assert listed | {SpecificActivity.OTHER} == set(SpecificActivity)
    assert SpecificActivity.OTHER not in listed
    # XEP-0108 §3: cycling is both exercise and travel.
    assert SpecificActivity.CYCLING in ACTIVITY_TAXONOMY[GeneralActivity.EXERCISING]
    assert SpecificActivity.CYCLING in ACTIVITY_TAXONOMY[GeneralActivity.TRAVELING]
