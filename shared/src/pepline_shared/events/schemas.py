"""JSON Schemas of the event data, generated from the models and kept in the repository.

``python -m pepline_shared.events.schemas`` (re)writes ``shared/schemas/<kind>.v1.json`` (and
``clear.v1.json``); ``--check`` exits 1 instead if a file is missing or stale, which is what
the test suite and CI rely on. Non-Python consumers validate a Kafka record's JSON body with
the schema named by its ``ce_type``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from pepline_shared.events.kinds import SCHEMA_VERSION, TYPE_PREFIX, Kind, event_type
from pepline_shared.events.models import DATA_MODELS, Clear

__all__ = ["DEFAULT_SCHEMA_DIR", "main", "render_schemas", "stale_schemas", "write_schemas"]

#: shared/schemas in a source checkout (this file is shared/src/pepline_shared/events/).
DEFAULT_SCHEMA_DIR: Final = Path(__file__).resolve().parents[3] / "schemas"

_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def _document(name: str, model: type[Any], ce_types: list[str]) -> str:
    schema: dict[str, Any] = {
        "$schema": _DIALECT,
        "$id": f"urn:{TYPE_PREFIX.replace('.', ':')}:schema:{name}.v{SCHEMA_VERSION}",
        **model.model_json_schema(mode="validation"),
    }
    schema["x-cloudevents-type"] = ce_types
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_schemas() -> dict[str, str]:
    """File name → JSON text of every schema, as the models define them now."""
    files = {
        f"{kind.value}.v{SCHEMA_VERSION}.json": _document(kind.value, model, [event_type(kind)])
        for kind, model in DATA_MODELS.items()
    }
    files[f"clear.v{SCHEMA_VERSION}.json"] = _document(
        "clear", Clear, [event_type(kind, clear=True) for kind in Kind]
    )
    return files


def write_schemas(directory: Path = DEFAULT_SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(directory: Path = DEFAULT_SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing, differ from the models, or are left over."""
    expected = render_schemas()
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).is_file()
        or (directory / name).read_text(encoding="utf-8") != text
    ]
    extra = sorted(p.name for p in directory.glob("*.json") if p.name not in expected)
    return stale + extra


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pepline_shared.events.schemas")
    parser.add_argument("--out", type=Path, default=DEFAULT_SCHEMA_DIR, help="schema directory")
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_schemas(args.out)
        for name in stale:
            print(f"stale: {args.out / name}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_schemas(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
