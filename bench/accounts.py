"""Thousands of Prosody accounts with presence subscriptions, written before Prosody starts.

``prosodyctl register`` costs 35-120 ms a call here (a Lua process per account), i.e. about a
minute for 1,000 users, and still leaves the roster to set up over XMPP. Prosody's
``internal`` storage is one Lua table per user and store (``data/<host>/accounts/<u>.dat``,
``data/<host>/roster/<u>.dat``), read on demand, so writing those files before the server
starts creates the same accounts and rosters prosodyctl and a subscription exchange would,
in milliseconds. The format below is what Prosody 0.12 itself writes (checked against
files made by prosodyctl and by a real mutual subscription); the watcher logging in with its
generated password proves the account format on every run.

Every user gets the same password and salt: the SCRAM keys are computed once (10,000 rounds
of PBKDF2) instead of once per user; nobody but the watcher ever logs in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ScramCredentials", "scram_credentials", "storage_dir", "write_accounts"]

ITERATIONS = 10_000  # Prosody 0.12's default for internal_hashed


class ScramCredentials:
    """What mod_auth_internal_hashed stores for one password (SCRAM-SHA-1, RFC 5802)."""

    def __init__(self, password: str, salt: str, iterations: int = ITERATIONS) -> None:
        salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt.encode(), iterations)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
        self.stored_key = hashlib.sha1(client_key).hexdigest()  # noqa: S324 - SCRAM-SHA-1
        self.server_key = hmac.new(salted, b"Server Key", hashlib.sha1).hexdigest()
        self.salt = salt
        self.iterations = iterations

    def lua(self) -> str:
        return (
            "return {\n"
            f'\t["stored_key"] = {_lua_str(self.stored_key)};\n'
            f'\t["server_key"] = {_lua_str(self.server_key)};\n'
            f'\t["salt"] = {_lua_str(self.salt)};\n'
            f'\t["iteration_count"] = {self.iterations};\n'
            "};\n"
        )


def scram_credentials(password: str) -> ScramCredentials:
    return ScramCredentials(password, str(uuid.uuid4()))


def _lua_str(value: str) -> str:
    # Only JIDs, hex and UUIDs are written; refuse anything that would need real escaping.
    if not re.fullmatch(r"[A-Za-z0-9@.\-_]+", value):
        raise ValueError(f"unexpected character in {value!r}")
    return f'"{value}"'


def _encode(name: str) -> str:
    """util.datamanager's file-name encoding: every non-alphanumeric byte as %xx."""
    return "".join(c if c.isascii() and c.isalnum() else f"%{ord(c):02x}" for c in name)


def storage_dir(data_path: Path, host: str, store: str) -> Path:
    return data_path / _encode(host) / store


def _roster_lua(contacts: Sequence[str]) -> str:
    lines = ["return {", '\t[false] = {\n\t\t["version"] = 1;\n\t\t["pending"] = {};\n\t};']
    lines += [
        f'\t[{_lua_str(jid)}] = {{\n\t\t["subscription"] = "both";\n\t\t["groups"] = {{}};\n\t}};'
        for jid in contacts
    ]
    lines.append("};\n")
    return "\n".join(lines)


def write_accounts(
    data_path: Path, host: str, users: Sequence[str], watcher: str, password: str
) -> list[str]:
    """Create ``users`` and ``watcher`` (localparts) on ``host``, each user mutually
    subscribed with the watcher; return the users' bare JIDs.

    Mutual ("both"): the watcher must see each user's presence-access PEP items (user's
    roster: watcher "from") and the watcher's presence must reach each user so that mod_pep
    learns its +notify interests (watcher's roster: user "from").
    """
    accounts = storage_dir(data_path, host, "accounts")
    rosters = storage_dir(data_path, host, "roster")
    accounts.mkdir(parents=True, exist_ok=True)
    rosters.mkdir(parents=True, exist_ok=True)
    account = scram_credentials(password).lua()
    watcher_jid = f"{watcher}@{host}"
    user_roster = _roster_lua([watcher_jid])
    jids = []
    for user in users:
        (accounts / f"{_encode(user)}.dat").write_text(account)
        (rosters / f"{_encode(user)}.dat").write_text(user_roster)
        jids.append(f"{user}@{host}")
    (accounts / f"{_encode(watcher)}.dat").write_text(account)
    (rosters / f"{_encode(watcher)}.dat").write_text(_roster_lua(jids))
    return jids
