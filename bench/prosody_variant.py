"""The stack's Prosody with the settings a 1,000+ user benchmark needs (the test stack's
defaults stay as they are).

- ``pep_service_cache_size``: mod_pep keeps at most this many users' PEP services in an LRU
  cache (default 1,000). Publishing round-robin over more users than that evicts every
  service before its next use, so each publish reloads the user's nodes from storage; the
  benchmark sizes the cache to its user count so it measures the steady state a tuned
  server runs in (README, "Benchmark", says so for deployments).

- two more privileged components with the publisher's grants, ``ceiling.<domain>`` for the
  ceiling publisher and ``sink.<domain>`` for the bare slixmpp sink, so that all three
  can stay connected and the benchmark can alternate between them.

No rate limits to lift: the generated config does not load mod_limits, and component
streams are never limited.
"""

from __future__ import annotations

import subprocess

from pepline.stack.config import StackConfig
from pepline.stack.process import ManagedProcess, StartError
from pepline.stack.prosody import (
    PRIVILEGED_PUBSUB_NS,
    PROSODY,
    PROSODYCTL,
    Prosody,
    _script_argv,  # how the stack launches Prosody, so `down` recognises the process
    certificate_for,
    config_path,
    render_config,
)

__all__ = ["BenchProsody", "ceiling_component", "sink_component"]


def ceiling_component(cfg: StackConfig) -> str:
    return f"ceiling.{cfg.domain}"


def sink_component(cfg: StackConfig) -> str:
    return f"sink.{cfg.domain}"


class BenchProsody(Prosody):
    def __init__(self, pep_service_cache_size: int) -> None:
        self.pep_service_cache_size = pep_service_cache_size

    def render(self, cfg: StackConfig) -> str:
        home = cfg.service_dir(self.name)
        base = render_config(cfg, home, certificate_for(cfg))
        grant = (
            'roster = "get"; message = "outgoing"; presence = "roster"; '
            f'iq = {{ ["{PRIVILEGED_PUBSUB_NS}"] = "set" }};'
        )
        extra = (ceiling_component(cfg), sink_component(cfg))
        # Re-opening the VirtualHost adds options to it (Prosody merges the sections);
        # privileged_entities is replaced as a whole, so it lists every component.
        text = (
            f'\n-- pepline bench additions\nVirtualHost "{cfg.domain}"\n'
            f"    pep_service_cache_size = {self.pep_service_cache_size}\n"
            "    privileged_entities = {\n"
            + "".join(f'        ["{c}"] = {{ {grant} }};\n' for c in (cfg.component, *extra))
            + "    }\n"
        )
        for component in extra:
            text += (
                f'\nComponent "{component}"\n'
                f'    component_secret = "{cfg.component_secret}"\n'
                '    modules_enabled = { "privilege" }\n'
            )
        return base + text

    def start(self, cfg: StackConfig) -> ManagedProcess:
        home = cfg.service_dir(self.name)
        (home / "data").mkdir(exist_ok=True)
        (home / "certs").mkdir(exist_ok=True)
        cfg.logs.mkdir(parents=True, exist_ok=True)
        config = config_path(cfg)
        config.write_text(self.render(cfg))
        check = subprocess.run(
            [PROSODYCTL, "--config", str(config), "check", "config"],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise StartError(f"prosodyctl check config failed:\n{check.stdout}\n{check.stderr}")
        proc = ManagedProcess(
            name=self.name,
            argv=[*_script_argv(PROSODY), "-F", "--config", str(config)],
            log=cfg.logs / "prosody.log",
            record=cfg.run / "prosody.json",
        )
        proc.start()
        return proc
