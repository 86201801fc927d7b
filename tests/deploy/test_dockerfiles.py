"""The Dockerfiles: linted and checked offline, built where a Docker engine is reachable.

Without Docker the service image's builder stage is replayed outside Docker: the files its
COPY lines name (filtered by .dockerignore) go into an empty context, and its RUN lines (the
uv sync of one workspace member) run there; the resulting virtual environment then runs the
image's entrypoint. That proves each image gets its service's CLI and all it imports, and
nothing of the other services.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("publisher", "gps", "mqtt", "calendar", "rules", "fusion")
DOCKERFILES = sorted([REPO / "Dockerfile", *REPO.glob("deploy/*/Dockerfile")])
# Third-party packages only one service needs: another service's image must not carry them.
OWN_PACKAGES = {"publisher": "slixmpp", "mqtt": "paho", "calendar": "icalendar"}


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [v for i, v in self.instructions if i == instruction]


def stages(path: Path) -> list[Stage]:
    out: list[Stage] = []
    for item in DockerfileParser(path=str(path)).structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "FROM":
            parts = value.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            out.append(Stage(parts[0], name))
        elif instruction != "COMMENT":
            out[-1].instructions.append((instruction, value))
    return out


def copy_args(value: str) -> tuple[dict[str, str], list[str], str]:
    """``COPY [--flag=v ...] src... dest`` → (flags, sources, dest)."""
    words = shlex.split(value)
    flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--"))
    paths = [w for w in words if not w.startswith("--")]
    return flags, paths[:-1], paths[-1]


def substitute(text: str, args: dict[str, str]) -> str:
    for name, value in args.items():
        text = text.replace("${" + name + "}", value).replace("$" + name, value)
    return text


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: ``*`` and ``?`` stay within one path segment,
    ``**`` spans any number of them."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            char = pattern[i]
            out += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
            i += 1
    return re.compile(out)


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins, ``!`` re-includes, and a
    pattern that matches a directory also covers everything below it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for raw in patterns:
        negate = raw.startswith("!")
        regex = pattern_regex(raw[1:] if negate else raw)
        if any(regex.fullmatch(p) for p in prefixes):
            result = not negate
    return result


def dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# --- lint ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_finds_nothing(hadolint: str, path: Path) -> None:
    result = subprocess.run(
        [hadolint, "--config", str(REPO / ".hadolint.yaml"), "--no-color", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_really_linting(hadolint: str, tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN cd /tmp && apt-get install curl\n")
    result = subprocess.run(
        [hadolint, "--config", str(REPO / ".hadolint.yaml"), "--no-color", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # :latest


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_images_are_pinned_unprivileged_and_probed(path: Path) -> None:
    all_stages = stages(path)
    names = {s.name for s in all_stages if s.name}
    for stage in all_stages:
        if stage.base in names:
            continue
        image, _, tag = stage.base.rpartition(":")
        assert image and tag and tag != "latest" and "$" not in tag, f"unpinned {stage.base}"
        for value in stage.values("COPY"):
            source = copy_args(value)[0].get("from")
            assert source is None or source in names, f"COPY --from={source}: use a stage"
    final = all_stages[-1]
    users = final.values("USER")
    assert users, "the final stage sets a USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, "a numeric, non-root user (k8s runAsNonRoot)"
    assert final.values("HEALTHCHECK"), "the image carries its health check"
    assert final.values("ENTRYPOINT") or final.values("CMD")
    context = path.parent
    for stage in all_stages:
        for value in stage.values("COPY"):
            flags, sources, _ = copy_args(value)
            if "from" in flags:
                continue
            for source in sources:
                # The service image's sources depend on its SERVICE build argument.
                for expanded in {substitute(source, {"SERVICE": svc}) for svc in SERVICES}:
                    assert (context / expanded).exists(), f"{path}: no {expanded} to COPY"


def test_every_workspace_member_is_known_to_the_builder() -> None:
    """uv reads the whole workspace: the builder must copy every member's pyproject."""
    builder = next(s for s in stages(REPO / "Dockerfile") if s.name == "builder")
    copied = {src for v in builder.values("COPY") for src in copy_args(v)[1]}
    members = {str(p.relative_to(REPO)) for p in REPO.glob("services/*/pyproject.toml")}
    assert {*members, "shared/pyproject.toml", "pyproject.toml", "uv.lock"} <= copied
    assert {p.parent.name for p in REPO.glob("services/*/pyproject.toml")} == set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_the_build_context_holds_what_the_image_copies(service: str) -> None:
    patterns = dockerignore()
    for stage in stages(REPO / "Dockerfile"):
        for value in stage.values("COPY"):
            flags, sources, _ = copy_args(value)
            if "from" in flags:
                continue
            for source in sources:
                source = substitute(source, {"SERVICE": service})
                assert (REPO / source).exists(), source
                if (REPO / source).is_file():
                    assert not ignored(source, patterns), f".dockerignore excludes {source}"
                else:
                    sent = [
                        p
                        for p in (REPO / source).rglob("*")
                        if p.is_file() and not ignored(p.relative_to(REPO).as_posix(), patterns)
                    ]
                    assert sent, f".dockerignore excludes everything in {source}"
    package = f"services/{service}/src/pepline_{service}/__init__.py"
    assert not ignored(package, patterns), f"the {service} code is not sent to the builder"
    for kept_out in ("tests/conftest.py", f"services/{service}/tests", ".venv", ".stack"):
        assert ignored(kept_out, patterns), f"{kept_out} would be sent to the builder"


# --- the builder, replayed without Docker ---------------------------------------------------


def replay_builder(service: str, root: Path) -> Path:
    """Run the builder stage's COPY and RUN lines for ``service``; return the venv."""
    builder = next(s for s in stages(REPO / "Dockerfile") if s.name == "builder")
    context = root / "src"
    context.mkdir()
    venv = root / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    env["SERVICE"] = service
    patterns = dockerignore()
    for instruction, value in builder.instructions:
        value = substitute(value, {"SERVICE": service})
        if instruction == "ENV":
            for word in shlex.split(value.replace("\\\n", " ")):
                key, _, val = word.partition("=")
                env[key] = val
        elif instruction == "COPY" and "--from" not in value:
            _, sources, dest = copy_args(value)
            for source in sources:
                if (REPO / source).is_dir():
                    # What Docker sends: the folder's files that .dockerignore lets through.
                    for path in sorted((REPO / source).rglob("*")):
                        relative = path.relative_to(REPO).as_posix()
                        if path.is_file() and not ignored(relative, patterns):
                            target = context / dest / path.relative_to(REPO / source)
                            target.parent.mkdir(parents=True, exist_ok=True)
                            shutil.copy2(path, target)
                else:
                    target = context / dest / (Path(source).name if dest.endswith("/") else "")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(REPO / source, target)
        elif instruction == "RUN":
            # The host's interpreter and a venv in the temporary folder stand in for the
            # image's; bytecode compilation only costs time here.
            env["UV_PYTHON"] = str(
                Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
            )
            env["UV_PROJECT_ENVIRONMENT"] = str(venv)
            env["UV_COMPILE_BYTECODE"] = "0"
            command = re.sub(r"--mount=\S+", "", value)
            result = subprocess.run(
                ["sh", "-c", command],
                cwd=context,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            assert result.returncode == 0, f"RUN {command}\n{result.stdout}{result.stderr}"
    return venv


def workspace_closure(service: str) -> set[str]:
    """The services whose code the image may carry: itself and the workspace members it
    depends on (fusion, for one, uses the publisher's node provisioning)."""
    seen: set[str] = set()
    todo = [service]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        project = tomllib.loads((REPO / "services" / name / "pyproject.toml").read_text())
        for requirement in project["project"]["dependencies"]:
            match = re.match(r"pepline-([a-z]+)", requirement)
            if match and match.group(1) in SERVICES:
                todo.append(match.group(1))
    return seen


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_runs_its_service_and_carries_no_other(service: str, tmp_path: Path) -> None:
    venv = replay_builder(service, tmp_path)
    cli = REPO / "services" / service / "src" / f"pepline_{service}" / "cli.py"
    if not cli.exists():
        pytest.xfail(f"pepline_{service}.cli is not written yet: the image has no command")
    python = venv / "bin" / "python"
    runtime = stages(REPO / "Dockerfile")[-1]
    image_env = dict(
        word.partition("=")[::2]
        for value in runtime.values("ENV")
        for word in shlex.split(substitute(value, {"SERVICE": service}).replace("\\\n", " "))
    )
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "PEPLINE_IMAGE_SERVICE": image_env["PEPLINE_IMAGE_SERVICE"],
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        [str(python), str(REPO / "deploy" / "docker" / "entrypoint.py"), "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"Usage: pepline {service}" in result.stdout

    included = workspace_closure(service)
    others = [f"pepline_{s}" for s in SERVICES if s not in included] + ["pepline", "pytest"]
    others += [pkg for owner, pkg in OWN_PACKAGES.items() if owner not in included]
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    found = subprocess.run(
        [str(python), "-c", probe, *others], env=env, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]", f"the {service} image also carries {found.stdout}"


def test_the_entrypoint_refuses_an_image_without_a_service() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "docker" / "entrypoint.py")],
        env={"PATH": os.environ["PATH"], "PEPLINE_IMAGE_SERVICE": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "names no pepline service" in result.stderr


# --- with Docker ---------------------------------------------------------------------------


def docker_unreachable() -> str | None:
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    result = subprocess.run(
        ["docker", "info"], capture_output=True, text=True, check=False, timeout=30
    )
    if result.returncode != 0:
        return "`docker info` failed: " + (result.stderr.strip().splitlines() or ["?"])[-1]
    return None


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_builds_and_runs(service: str) -> None:
    reason = docker_unreachable()
    if reason is not None:
        pytest.skip(
            f"no Docker engine ({reason}): install Docker Engine and start it "
            "(docs/deploy.md, 'Docker'); the Dockerfile is linted and its builder replayed "
            "offline meanwhile"
        )
    tag = f"pepline/{service}:test"
    build = subprocess.run(
        ["docker", "build", "--build-arg", f"SERVICE={service}", "-t", tag, str(REPO)],
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    run = subprocess.run(
        ["docker", "run", "--rm", "--read-only", tag, "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert f"Usage: pepline {service}" in run.stdout
    user = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Config.User}}", tag],
        capture_output=True,
        text=True,
        check=True,
    )
    assert user.stdout.strip() == "10001:10001"
