"""pepline's one normalized event model: CloudEvents 1.0 envelopes with typed data.

See :mod:`.envelope` for the attribute mapping and :mod:`.kinds` for the ``type`` strings.
"""

from pepline_shared.errors import EventValidationError
from pepline_shared.events.envelope import (
    RESERVED_ATTRIBUTES,
    SPECVERSION,
    Event,
    is_extension_name,
    source_uri,
)
from pepline_shared.events.images import AVATAR_MIME_TYPES
from pepline_shared.events.kinds import PEP_KINDS, Kind, event_type, parse_event_type
from pepline_shared.events.models import (
    AVATAR_MAX_BYTES,
    DATA_MODELS,
    Activity,
    Avatar,
    CalendarState,
    Clear,
    EventData,
    GeoLocation,
    Mood,
    PhysicalLocation,
    SensorReading,
    kind_of,
)
from pepline_shared.events.values import (
    ACTIVITY_TAXONOMY,
    CalendarStatus,
    GeneralActivity,
    MoodValue,
    SpecificActivity,
    is_valid_activity,
)

__all__ = [
    "ACTIVITY_TAXONOMY",
    "AVATAR_MAX_BYTES",
    "AVATAR_MIME_TYPES",
    "DATA_MODELS",
    "PEP_KINDS",
    "RESERVED_ATTRIBUTES",
    "SPECVERSION",
    "Activity",
    "Avatar",
    "CalendarState",
    "CalendarStatus",
    "Clear",
    "Event",
    "EventData",
    "EventValidationError",
    "GeneralActivity",
    "GeoLocation",
    "Kind",
    "Mood",
    "MoodValue",
    "PhysicalLocation",
    "SensorReading",
    "SpecificActivity",
    "event_type",
    "is_extension_name",
    "is_valid_activity",
    "kind_of",
    "parse_event_type",
    "source_uri",
]
