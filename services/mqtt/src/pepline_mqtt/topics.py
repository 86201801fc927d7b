"""MQTT topic filters and the adapter's topic patterns with named levels.

A *pattern* is an MQTT topic filter in which a level may be a placeholder such as
``{device}``: ``espresense/devices/{device}/{room}``. As a subscription it is the filter with
every placeholder replaced by ``+``; matched against a topic it yields the placeholders'
values. ``+`` and a final ``#`` keep their MQTT meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

__all__ = ["TopicPattern", "filter_matches", "validate_filter"]

_PLACEHOLDER = re.compile(r"^\{([a-z_]+)\}$")


def validate_filter(topic_filter: str) -> str:
    """Check an MQTT topic filter (MQTT 3.1.1 §4.7); return it or raise ``ValueError``."""
    if not topic_filter or "\0" in topic_filter or len(topic_filter.encode()) > 65535:
        raise ValueError(f"invalid MQTT topic filter {topic_filter!r}")
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(f"'#' must be a whole, final level in {topic_filter!r}")
        if "+" in level and level != "+":
            raise ValueError(f"'+' must be a whole level in {topic_filter!r}")
    return topic_filter


def filter_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches the MQTT filter (``#`` also matches its parent level)."""
    f_levels, t_levels = topic_filter.split("/"), topic.split("/")
    # MQTT 3.1.1 §4.7.2: wildcards at the first level don't match $SYS-style topics.
    if topic.startswith("$") and f_levels[0] in ("+", "#"):
        return False
    for i, f in enumerate(f_levels):
        if f == "#":
            return True
        if i >= len(t_levels):
            return False
        if f != "+" and f != t_levels[i]:
            return False
    return len(f_levels) == len(t_levels)


@dataclass(frozen=True)
class TopicPattern:
    """A topic filter with ``{name}`` levels; see the module doc."""

    pattern: str

    def __post_init__(self) -> None:
        validate_filter(self.subscription)
        names = [n for n in self._names if n is not None]
        if len(names) != len(set(names)):
            raise ValueError(f"a placeholder appears twice in {self.pattern!r}")
        for level in self.pattern.split("/"):
            if ("{" in level or "}" in level) and _PLACEHOLDER.match(level) is None:
                raise ValueError(
                    f"placeholders must be whole levels like {{device}} in {self.pattern!r}"
                )

    @cached_property
    def _names(self) -> tuple[str | None, ...]:
        return tuple(
            (m.group(1) if (m := _PLACEHOLDER.match(level)) else None)
            for level in self.pattern.split("/")
        )

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(n for n in self._names if n is not None)

    @property
    def subscription(self) -> str:
        """The MQTT filter to subscribe to."""
        return "/".join(
            "+" if _PLACEHOLDER.match(level) else level for level in self.pattern.split("/")
        )

    def match(self, topic: str) -> dict[str, str] | None:
        """The placeholders' values if ``topic`` matches, else ``None``."""
        if not filter_matches(self.subscription, topic):
            return None
        levels = topic.split("/")
        values = {
            name: levels[i]
            for i, name in enumerate(self._names)
            if name is not None and i < len(levels)
        }
        # "+" matches an empty level too, but an empty device or user name names nobody.
        if any(not value for value in values.values()):
            return None
        return values
