"""Read a rules file: YAML → :class:`RuleSet`, with errors that name the rule and the line.

PyYAML composes the document into nodes that carry their position; we build plain Python
values from them while recording the line of every path (``rules[3].when.speed.gt``), then
validate with the pydantic schema and map each validation error's location back to a line.
A bad file raises :class:`RulesError` (never a partial rule set)::

    rules.yaml:14:11: rule 'driving': when.speed.gt: Input should be a valid number

:class:`RuleSource` keeps the rules of a file current: :meth:`RuleSource.check` reloads when
the file changed; a file that fails to load leaves the running rules in force.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pepline_rules.model import PathProblem, RuleFile
from pepline_rules.ruleset import RuleSet
from pepline_shared.errors import EventValidationError
from pepline_shared.events import CalendarStatus, GeneralActivity, MoodValue, SpecificActivity
from pepline_shared.logging import get_logger

__all__ = ["DEFAULT_RULES", "RuleSource", "RulesError", "load_file", "load_text"]

log = get_logger("pepline.rules")

#: The rule set shipped with pepline (documented in docs/rules.md).
DEFAULT_RULES = Path(__file__).with_name("default_rules.yaml")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    path: str  # dotted from the top, e.g. rules[2].when.speed.gt
    message: str
    line: int | None  # 1-based
    column: int | None  # 1-based
    rule: str | None = None  # the rule's id (quoted), or rules[N] when it has none
    field: str | None = None  # the path inside that rule, e.g. when.speed.gt

    def render(self, origin: str) -> str:
        where = origin
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        rule = f"rule {self.rule}: " if self.rule else ""
        field = self.field if self.rule else self.path
        return f"{where}: {rule}{field + ': ' if field else ''}{self.message}"


class RulesError(ValueError):
    """A rules file is invalid. ``problems`` lists every problem; ``str()`` the first ones."""

    def __init__(self, origin: str, problems: Sequence[Problem]) -> None:
        self.origin = origin
        self.problems = tuple(problems)
        first = self.problems[0]
        self.line = first.line
        self.rule = first.rule
        lines = [p.render(origin) for p in self.problems[:5]]
        if len(self.problems) > 5:
            lines.append(f"... and {len(self.problems) - 5} more problems")
        super().__init__("\n".join(lines))


# ---- YAML with positions --------------------------------------------------------------------


class _Builder:
    """Plain Python values from composed YAML nodes, remembering where each path is."""

    def __init__(self, loader: yaml.SafeLoader, origin: str) -> None:
        self.loader = loader
        self.origin = origin
        self.marks: dict[Path_, tuple[int, int]] = {}

    def _fail(self, node: Node, path: Path_, message: str) -> RulesError:
        mark = node.start_mark
        return RulesError(
            self.origin,
            [Problem(_dotted(path), message, mark.line + 1, mark.column + 1, None)],
        )

    def build(self, node: Node, path: Path_ = ()) -> Any:
        self.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self._fail(key_node, path, "YAML merge keys (<<) are not supported")
                if not isinstance(key_node, ScalarNode):
                    raise self._fail(key_node, path, "a mapping key must be a plain value")
                key = self._scalar(key_node)
                if isinstance(key, int | float | bool) or key is None:
                    key = key_node.value  # keys are names: `on:` is the string "on"
                if key in out:
                    raise self._fail(key_node, (*path, key), f"duplicate key {key!r}")
                self.marks[(*path, key)] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                out[key] = self.build(value_node, (*path, key))
                # The value's own position is more precise for errors about the value.
                self.marks[(*path, key)] = (
                    value_node.start_mark.line + 1,
                    value_node.start_mark.column + 1,
                )
            return out
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalar(node)

    def _scalar(self, node: ScalarNode) -> Any:
        # YAML 1.1 reads an unquoted 23:00 as the sexagesimal integer 1380: in a rules file
        # that is always a clock time, so keep such scalars as the text that was written.
        if node.tag == "tag:yaml.org,2002:int" and ":" in node.value and node.style is None:
            return node.value
        return self.loader.construct_object(node, deep=True)


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _parse_yaml(text: str, origin: str) -> tuple[Any, dict[Path_, tuple[int, int]]]:
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            message = " ".join(p for p in (exc.context, exc.problem) if p)
            line = mark.line + 1 if mark else None
            column = mark.column + 1 if mark else None
            raise RulesError(
                origin, [Problem("", f"YAML syntax: {message}", line, column, None)]
            ) from None
        except yaml.YAMLError as exc:
            raise RulesError(origin, [Problem("", f"YAML: {exc}", None, None, None)]) from None
        if node is None:
            raise RulesError(origin, [Problem("", "the file is empty", 1, 1, None)])
        builder = _Builder(loader, origin)
        data = builder.build(node)
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise RulesError(origin, [Problem("", "the top level must be a mapping", 1, 1, None)])
    return data, builder.marks


# ---- validation errors → problems ------------------------------------------------------------


def _resolve(data: Any, loc: Sequence[str | int]) -> Path_:
    """The YAML path of a pydantic location: drop union tags and other non-keys."""
    path: list[str | int] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_dict or in_list):
            continue
        node = node[part]
        path.append(part)
    return tuple(path)


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "enum":
        value = error.get("input")
        expected = re.findall(r"'([^']*)'", str((error.get("ctx") or {}).get("expected", "")))
        close = difflib.get_close_matches(str(value), expected, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown value {value!r}{hint}"
    return error["msg"].removeprefix("Value error, ")


def _rule_of(data: Any, path: Path_) -> tuple[str | None, str | None]:
    """The rule a path is in (its id, or its position when it has no usable id) and the
    path inside it."""
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        base = path[:2]
    elif len(path) >= 4 and path[0] == "users" and path[2] == "add" and isinstance(path[3], int):
        base = path[:4]
    elif len(path) >= 4 and path[0] == "users" and path[2] == "override":
        return repr(path[3]), _dotted(path[4:])
    else:
        return None, None
    node: Any = data
    for part in base:
        node = node[part]
    name = repr(node["id"]) if isinstance(node, dict) and isinstance(node.get("id"), str) else None
    return name or _dotted(base), _dotted(path[len(base) :])


_ENUMS: dict[str, tuple[str, ...]] = {
    "general": tuple(v.value for v in GeneralActivity),
    "specific": tuple(v.value for v in SpecificActivity),
    "value": tuple(v.value for v in MoodValue),
    "state": tuple(v.value for v in CalendarStatus),
}


def _hint(path: Path_, message: str, value: object) -> str:
    """A 'did you mean' for a misspelt standard value."""
    names = _ENUMS.get(str(path[-1])) if path else None
    if not names or not message.startswith("unknown value") or not isinstance(value, str):
        return message
    close = difflib.get_close_matches(value, names, n=1)
    return f"{message}; did you mean {close[0]!r}?" if close else message


def _located(
    loc: Sequence[str | int], message: str, data: Any, marks: dict[Path_, tuple[int, int]]
) -> Problem:
    path = _resolve(data, loc)
    line, column = None, None
    for cut in range(len(path), -1, -1):
        if path[:cut] in marks:
            line, column = marks[path[:cut]]
            break
    rule, field = _rule_of(data, path)
    return Problem(_dotted(path), message, line, column, rule, field)


def _value_at(data: Any, path: Path_) -> object:
    node = data
    for part in path:
        node = node[part]
    return node


def _problems(
    exc: ValidationError, data: Any, marks: dict[Path_, tuple[int, int]]
) -> list[Problem]:
    out: list[Problem] = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        ctx_error = (error.get("ctx") or {}).get("error")
        if isinstance(ctx_error, PathProblem):
            out.append(_located(loc + list(ctx_error.path), ctx_error.reason, data, marks))
        elif isinstance(ctx_error, EventValidationError):
            # An output (the shared Activity/Mood models) names its own fields.
            for field, reason in ctx_error.problems:
                sub: list[str | int] = [p for p in field.split(".") if p and p != "$"]
                problem = _located(loc + sub, reason, data, marks)
                path = _resolve(data, loc + sub)
                message = _hint(path, reason, _value_at(data, path))
                out.append(dataclasses.replace(problem, message=message))
        else:
            out.append(_located(loc, _message(error), data, marks))
    # A value that fits no member of a union fails once per member ("not a state", "not a
    # list of states"): the first says it best. Then report in file order.
    unique = list({p.path: p for p in reversed(out)}.values())[::-1]
    unique.sort(key=lambda p: (p.line or 0, p.column or 0))
    return unique


# ---- entry points ---------------------------------------------------------------------------


def load_text(text: str, origin: str = "<rules>") -> RuleSet:
    """Parse and validate a rules document; :class:`RulesError` if it is not valid."""
    data, marks = _parse_yaml(text, origin)
    try:
        parsed = RuleFile.model_validate(data)
    except ValidationError as exc:
        raise RulesError(origin, _problems(exc, data, marks)) from None
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return RuleSet(parsed, origin=origin, digest=digest)


def load_file(path: Path) -> RuleSet:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(str(path), [Problem("", f"cannot read: {exc}", None, None, None)]) from exc
    return load_text(text, str(path))


class RuleSource:
    """The rules of one file, reloaded when it changes; bad edits never replace good rules."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rules = load_file(path)  # a bad file at start is fatal: there is nothing to keep
        self._stamp = self._stat()
        self.last_error: RulesError | None = None
        self.reloads = 0
        self.failures = 0

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def check(self, force: bool = False) -> bool:
        """Reload if the file changed (or ``force``); True if new rules are now in force."""
        stamp = self._stat()
        if not force and stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            rules = load_file(self.path)
        except RulesError as exc:
            self.failures += 1
            self.last_error = exc
            log.error(
                "rules_reload_rejected",
                file=str(self.path),
                error=str(exc),
                keeping=self.rules.digest,
            )
            return False
        self.last_error = None
        if rules.digest == self.rules.digest:
            return False
        self.rules = rules
        self.reloads += 1
        log.info(
            "rules_reloaded", file=str(self.path), digest=rules.digest, rules=len(rules.rule_ids)
        )
        return True
