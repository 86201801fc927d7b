"""The base of every event model: strict, immutable, and raising our own error type.

pydantic's ``ValidationError`` is an implementation detail; callers of the shared library
catch :class:`EventValidationError`, which names the offending field path. Constructing a
model (``GeoLocation(lat=91)``) and parsing one (:meth:`StrictModel.parse`) both raise it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from pepline_shared.errors import EventValidationError

__all__ = ["FieldProblem", "StrictModel", "validation_error"]


class FieldProblem(ValueError):
    """Raised inside a model validator to blame a specific field (pydantic can't)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(reason)


def _reason(error: ErrorDetails) -> str:
    if error["type"] == "enum":
        return f"unknown value {error['input']!r}"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    message = error["msg"]
    # Errors raised by our own validators arrive as "Value error, <our message>".
    return message.removeprefix("Value error, ")


def _join(loc: list[str], field: str) -> str:
    parts = loc + [part for part in field.split(".") if part and part != "$"]
    return ".".join(parts) or "$"


def _problems(error: ErrorDetails) -> list[tuple[str, str]]:
    loc = [str(part) for part in error["loc"]]
    ctx_error = (error.get("ctx") or {}).get("error")
    if isinstance(ctx_error, FieldProblem):
        # An empty field means "the model as a whole".
        return [(_join(loc, ctx_error.field), ctx_error.reason)]
    if isinstance(ctx_error, EventValidationError):
        # A nested model's __init__ already converted its errors; keep their paths.
        return [(_join(loc, field), reason) for field, reason in ctx_error.problems]
    return [(_join(loc, ""), _reason(error))]


def validation_error(exc: ValidationError, prefix: str = "") -> EventValidationError:
    """Convert a pydantic ``ValidationError`` into an :class:`EventValidationError`."""
    problems = [p for err in exc.errors(include_url=False) for p in _problems(err)]
    if prefix:
        problems = [(_join([prefix], field), reason) for field, reason in problems]
    field, reason = problems[0]
    return EventValidationError(field, reason, problems)


class StrictModel(BaseModel):
    """Frozen, closed (unknown fields are errors), finite floats, our error type."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        str_strip_whitespace=False,
        use_enum_values=False,
        validate_default=True,
    )

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise validation_error(exc) from exc

    @classmethod
    def parse(cls, obj: Mapping[str, Any] | Self) -> Self:
        """Validate a mapping (e.g. decoded JSON) into this model."""
        try:
            return cls.model_validate(obj)
        except ValidationError as exc:
            raise validation_error(exc) from exc

    @classmethod
    def parse_json(cls, raw: str | bytes) -> Self:
        """Validate a JSON document into this model."""
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise validation_error(exc) from exc
