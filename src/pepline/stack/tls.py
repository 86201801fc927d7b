"""A local test CA and server certificates, so the XMPP servers offer STARTTLS.

slixmpp refuses SASL PLAIN over an unencrypted stream, and we want the tests to run the same
TLS path a real deployment does rather than switch that safety off. So the stack makes, once,
a private CA (``<cache>/tls/ca.pem``) and signs one server certificate per set of names with
it. Clients trust the CA, not "anything":

- slixmpp: ``xmpp.ca_certs = pepline.stack.tls.ca_path()`` (verification stays on, and the
  certificate must name the JID's domain — ``pepline.test`` and ``*.pepline.test`` are in it);
- ``openssl s_client -starttls xmpp -CAfile "$(python -c 'from pepline.stack.tls import
  ca_path; print(ca_path())')" ...`` from a shell.

Everything lives in :func:`pepline.stack.config.cache_dir` and is generated at most once per
machine; a file lock keeps concurrent test sessions from minting two different CAs.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pepline.stack.config import cache_dir
from pepline.stack.process import StartError

__all__ = ["ServerCertificate", "ca_path", "server_certificate"]

CA_SUBJECT = "/O=pepline/CN=pepline local test CA"
VALID_DAYS = "3650"


@dataclass(frozen=True)
class ServerCertificate:
    """PEM files for one server: its certificate, its key, and both in one file."""

    cert: Path
    key: Path
    # ejabberd wants certificate and key in one PEM ("certfiles").
    combined: Path
    ca: Path


def _tls_dir() -> Path:
    path = cache_dir() / "tls"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _locked() -> Iterator[None]:
    with (_tls_dir() / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StartError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _ensure_ca() -> tuple[Path, Path]:
    """The CA certificate and key; the caller holds the lock."""
    folder = _tls_dir()
    ca, key = folder / "ca.pem", folder / "ca.key"
    if ca.exists() and key.exists():
        return ca, key
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
        "-keyout", str(key), "-out", str(ca), "-days", VALID_DAYS, "-subj", CA_SUBJECT,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    key.chmod(0o600)
    return ca, key


def ca_path() -> Path:
    """The local CA's certificate: what a client loads to trust the stack's XMPP servers."""
    with _locked():
        return _ensure_ca()[0]


def _san(names: Sequence[str]) -> str:
    entries = []
    for name in names:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            entries.append(f"DNS:{name}")
        else:
            entries.append(f"IP:{name}")
    return ",".join(entries)


def server_certificate(names: Sequence[str]) -> ServerCertificate:
    """A certificate for ``names`` (first one is the CN) signed by the local CA, made once."""
    if not names:
        raise ValueError("a server certificate needs at least one name")
    ordered = list(dict.fromkeys(names))
    digest = hashlib.sha256("\n".join(sorted(ordered)).encode()).hexdigest()[:16]
    folder = _tls_dir() / f"server-{digest}"
    result = ServerCertificate(
        cert=folder / "cert.pem",
        key=folder / "key.pem",
        combined=folder / "combined.pem",
        ca=_tls_dir() / "ca.pem",
    )
    with _locked():
        ca, ca_key = _ensure_ca()
        if result.combined.exists():
            return result
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            work = Path(tmp)
            ext = work / "ext.cnf"
            ext.write_text(
                f"subjectAltName={_san(ordered)}\n"
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid\n"
            )
            csr = work / "req.csr"
            _openssl(
                "req", "-newkey", "rsa:2048", "-nodes", "-sha256",
                "-keyout", str(result.key), "-out", str(csr),
                "-subj", f"/O=pepline/CN={ordered[0]}",
            )  # fmt: skip
            _openssl(
                "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
                "-CAcreateserial", "-CAserial", str(work / "ca.srl"),
                "-out", str(result.cert), "-days", VALID_DAYS, "-sha256", "-extfile", str(ext),
            )  # fmt: skip
        result.key.chmod(0o600)
        # Written last: its presence is the "complete" marker checked above.
        combined = result.cert.read_text() + result.key.read_text()
        tmp_combined = folder / "combined.pem.tmp"
        tmp_combined.write_text(combined)
        tmp_combined.chmod(0o600)
        tmp_combined.replace(result.combined)
    return result
