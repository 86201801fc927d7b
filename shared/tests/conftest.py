"""Fixtures of the shared library's unit tests: the official XEP schemas.

The schemas live in ../shared/xep-schemas (a sibling of the project directory) and are read
from there, never copied. Without them the payload tests would prove nothing, so a missing
directory fails the run instead of skipping.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import xmlschema

XEP_SCHEMA_DIR = Path(__file__).resolve().parents[3] / "shared" / "xep-schemas"

#: Payload namespace → schema file.
PAYLOAD_SCHEMAS: Mapping[str, str] = {
    "http://jabber.org/protocol/geoloc": "xep-0080-geoloc.xsd",
    "http://jabber.org/protocol/physloc": "xep-0112-physloc.xsd",
    "http://jabber.org/protocol/activity": "xep-0108-activity.xsd",
    "http://jabber.org/protocol/mood": "xep-0107-mood.xsd",
    "urn:xmpp:avatar:metadata": "xep-0084-avatar-metadata.xsd",
    "urn:xmpp:avatar:data": "xep-0084-avatar-data.xsd",
}
PUBSUB_SCHEMA = "xep-0060-pubsub.xsd"


def _schema_dir() -> Path:
    if not XEP_SCHEMA_DIR.is_dir():
        pytest.fail(f"official XEP schemas not found at {XEP_SCHEMA_DIR} (../shared/xep-schemas)")
    missing = [
        name
        for name in [*PAYLOAD_SCHEMAS.values(), PUBSUB_SCHEMA, "xep-0004-data.xsd"]
        if not (XEP_SCHEMA_DIR / name).is_file()
    ]
    if missing:
        pytest.fail(f"XEP schemas missing from {XEP_SCHEMA_DIR}: {missing}")
    return XEP_SCHEMA_DIR


@pytest.fixture(scope="session")
def xep_schema_dir() -> Path:
    return _schema_dir()


@pytest.fixture(scope="session")
def payload_schemas(xep_schema_dir: Path) -> dict[str, xmlschema.XMLSchema]:
    """One schema per payload namespace."""
    return {
        namespace: xmlschema.XMLSchema(str(xep_schema_dir / name))
        for namespace, name in PAYLOAD_SCHEMAS.items()
    }


@pytest.fixture(scope="session")
def pubsub_schema(xep_schema_dir: Path) -> xmlschema.XMLSchema:
    """The pubsub schema together with every payload schema.

    <item/> holds ``xs:any namespace='##other'`` with strict processing, so the payload is
    validated too, provided its schema is loaded alongside.
    """
    sources: list[Any] = [str(xep_schema_dir / PUBSUB_SCHEMA)]
    sources += [str(xep_schema_dir / name) for name in PAYLOAD_SCHEMAS.values()]
    return xmlschema.XMLSchema(sources)
