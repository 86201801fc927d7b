"""The JSON Schemas in shared/schemas are the models' own, and describe the wire bodies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
from hypothesis import given

from pepline_shared.events import Event, Kind
from pepline_shared.events.schemas import (
    DEFAULT_SCHEMA_DIR,
    main,
    render_schemas,
    stale_schemas,
)
from pepline_shared.events.strategies import PROPERTY, events
from pepline_shared.wire import encode_event

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"


def test_schema_dir_is_the_repository_one() -> None:
    assert SCHEMA_DIR == DEFAULT_SCHEMA_DIR


def test_committed_schemas_match_the_models() -> None:
    stale = stale_schemas(SCHEMA_DIR)
    assert stale == [], (
        f"JSON Schemas out of date: {stale}; run `uv run python -m pepline_shared.events.schemas`"
    )
    assert sorted(render_schemas()) == sorted(
        [f"{kind.value}.v1.json" for kind in Kind] + ["clear.v1.json"]
    )


def test_a_changed_or_missing_schema_is_detected(tmp_path: Path) -> None:
    shutil.copytree(SCHEMA_DIR, tmp_path, dirs_exist_ok=True)
    mood = tmp_path / "mood.v1.json"
    doc = json.loads(mood.read_text())
    doc["properties"]["text"]["description"] = "hand-edited"
    mood.write_text(json.dumps(doc, indent=2))
    (tmp_path / "sensor.v1.json").unlink()
    (tmp_path / "weather.v1.json").write_text("{}")
    assert stale_schemas(tmp_path) == ["mood.v1.json", "sensor.v1.json", "weather.v1.json"]
    assert main(["--check", "--out", str(tmp_path)]) == 1
    assert main(["--out", str(tmp_path)]) == 0
    (tmp_path / "weather.v1.json").unlink()
    assert main(["--check", "--out", str(tmp_path)]) == 0


def test_generator_runs_as_a_module(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pepline_shared.events.schemas", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(render_schemas())


def _validators() -> dict[str, jsonschema.Draft202012Validator]:
    validators = {}
    for path in SCHEMA_DIR.glob("*.json"):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        for ce_type in schema["x-cloudevents-type"]:
            validators[ce_type] = jsonschema.Draft202012Validator(schema)
    return validators


VALIDATORS = _validators()


@PROPERTY
@given(events())
def test_every_wire_body_validates_against_its_schema(event: Event) -> None:
    record = encode_event(event)
    VALIDATORS[event.type].validate(json.loads(record.value))


def test_schemas_reject_what_the_models_reject() -> None:
    geoloc = VALIDATORS["org.pepline.geoloc.v1"]
    assert not geoloc.is_valid({"lat": 91, "lon": 0})
    assert not geoloc.is_valid({"lat": 1, "lon": 2, "unknown": 1})
    assert not VALIDATORS["org.pepline.mood.v1"].is_valid({"value": "grumpyish"})
    assert not VALIDATORS["org.pepline.avatar.v1"].is_valid(
        {"data": "AA==", "mime_type": "image/bmp", "width": 1, "height": 1}
    )
