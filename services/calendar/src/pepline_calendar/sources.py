"""Where calendars come from, fetched only when they changed.

* :class:`IcsFileSource` — a local .ics file: one ``stat`` per poll, read only when its
  modification time, size or inode changed.
* :class:`IcsUrlSource` — an .ics URL (http, https, webcal): a conditional GET
  (If-None-Match / If-Modified-Since); ``304 Not Modified`` costs no download, and a body
  identical to the last one is not parsed again.
* :class:`CalDavSource` — CalDAV collections (RFC 4791) through the ``caldav`` package: one
  PROPFIND of the collection's ``sync-token`` and ``getctag`` per poll; only if they moved, a
  ``sync-collection`` REPORT (RFC 6578) lists what changed and one ``calendar-multiget``
  fetches just those objects. Unchanged objects are never downloaded again.

Every request and download is counted in :class:`~pepline_calendar.metrics.CalendarMetrics`.
A poll returns the whole current set of documents when anything changed (``None`` when
nothing did); each document carries a version (ETag, mtime) so that the service re-parses
only what is new. Failures raise :class:`~pepline_calendar.errors.SourceError`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
from caldav.davclient import DAVClient
from caldav.elements import dav
from caldav.elements.base import ValuedBaseElement
from caldav.lib import error as caldav_error
from caldav.lib.url import URL

from pepline_calendar.errors import ConfigError, SourceError
from pepline_calendar.metrics import CalendarMetrics
from pepline_calendar.parse import Document
from pepline_calendar.settings import SourceConfig

__all__ = [
    "CalDavSource",
    "IcsFileSource",
    "IcsUrlSource",
    "PollResult",
    "Source",
    "build_source",
    "redact_url",
]


@dataclass(frozen=True)
class PollResult:
    #: every current document by origin, or None when nothing changed since the last poll
    documents: Mapping[str, Document] | None

    @property
    def changed(self) -> bool:
        return self.documents is not None


UNCHANGED = PollResult(None)


class Source(Protocol):
    #: the metrics label, unique in the service: "<jid>/<source name>"
    key: str
    name: str

    async def poll(self) -> PollResult: ...

    async def close(self) -> None: ...


def redact_url(url: str) -> str:
    """``url`` without credentials, for logs and errors."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class IcsFileSource:
    def __init__(
        self, key: str, name: str, path: Path, metrics: CalendarMetrics, max_bytes: int
    ) -> None:
        self.key, self.name, self.path = key, name, path
        self.metrics, self.max_bytes = metrics, max_bytes
        self._signature: tuple[int, int, int] | None = None

    async def poll(self) -> PollResult:
        self.metrics.requests.labels(self.key, "stat").inc()
        try:
            st = await asyncio.to_thread(os.stat, self.path)
        except OSError as exc:
            raise SourceError(self.key, f"{self.path}: {exc.strerror}") from exc
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        if signature == self._signature:
            return UNCHANGED
        if st.st_size > self.max_bytes:
            raise SourceError(
                self.key, f"{self.path}: {st.st_size} bytes is over the limit of {self.max_bytes}"
            )
        try:
            data = await asyncio.to_thread(self.path.read_bytes)
        except OSError as exc:
            raise SourceError(self.key, f"{self.path}: {exc.strerror}") from exc
        self.metrics.downloads.labels(self.key).inc()
        self.metrics.bytes.labels(self.key).inc(len(data))
        self._signature = signature
        version = hashlib.sha256(data).hexdigest()
        origin = str(self.path)
        return PollResult({origin: Document(self.name, origin, _text(data), version)})

    async def close(self) -> None:
        return None


def _text(data: bytes) -> str:
    # RFC 5545 §3.1.4: UTF-8. Undecodable bytes are replaced (parse reports nothing then,
    # but the rest of the calendar stays usable).
    return data.decode("utf-8-sig", errors="replace")


class IcsUrlSource:
    def __init__(
        self,
        key: str,
        name: str,
        url: str,
        metrics: CalendarMetrics,
        *,
        username: str | None,
        password: str | None,
        verify_tls: bool,
        timeout: float,
        max_bytes: int,
    ) -> None:
        self.key, self.name, self.metrics = key, name, metrics
        self.url = "https://" + url[len("webcal://") :] if url.startswith("webcal://") else url
        self._authorization = (
            "Basic " + base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            if username
            else None
        )
        self._verify = verify_tls
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_bytes = max_bytes
        self._session: aiohttp.ClientSession | None = None
        self._etag: str | None = None
        self._last_modified: str | None = None
        self._digest: str | None = None

    async def poll(self) -> PollResult:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = {"Accept": "text/calendar, */*;q=0.5"}
        if self._authorization is not None:
            headers["Authorization"] = self._authorization
        if self._digest is not None and self._etag:
            headers["If-None-Match"] = self._etag
        if self._digest is not None and self._last_modified:
            headers["If-Modified-Since"] = self._last_modified
        self.metrics.requests.labels(self.key, "get").inc()
        try:
            async with self._session.get(self.url, headers=headers, ssl=self._verify) as response:
                if response.status == 304:
                    return UNCHANGED
                if response.status != 200:
                    raise SourceError(
                        self.key,
                        f"GET {redact_url(self.url)}: HTTP "
                        f"{response.status} {response.reason or ''}".rstrip(),
                    )
                data = await self._read(response)
                etag = response.headers.get("ETag")
                last_modified = response.headers.get("Last-Modified")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SourceError(
                self.key, f"GET {redact_url(self.url)}: {type(exc).__name__} {exc}".rstrip()
            ) from exc
        self.metrics.downloads.labels(self.key).inc()
        self.metrics.bytes.labels(self.key).inc(len(data))
        self._etag, self._last_modified = etag, last_modified
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._digest:
            return UNCHANGED  # a server without validators sent the same body again
        self._digest = digest
        origin = redact_url(self.url)
        return PollResult({origin: Document(self.name, origin, _text(data), digest)})

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self.max_bytes:
                raise SourceError(
                    self.key, f"GET {redact_url(self.url)}: more than {self.max_bytes} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# ---- CalDAV ------------------------------------------------------------------------------


@dataclass
class _Collection:
    url: str
    label: str
    sync_token: str | None = None
    ctag: str | None = None
    loaded: bool = False
    #: object URL -> (etag, iCalendar text)
    objects: dict[str, tuple[str, str]] = field(default_factory=dict)


class CalDavSource:
    """CalDAV collections of one account, synchronized incrementally.

    The ``caldav`` client is synchronous; each poll runs in a worker thread (one at a time
    per source) so the event loop keeps scheduling state changes meanwhile.
    """

    #: look for new or removed collections every this many polls (discovery mode only)
    REDISCOVER_EVERY: ClassVar[int] = 12

    def __init__(
        self, key: str, name: str, config: SourceConfig, metrics: CalendarMetrics, *, timeout: float
    ) -> None:
        self.key, self.name, self.config, self.metrics = key, name, config, metrics
        self.timeout = timeout
        self._client: Any = None
        self._collections: list[_Collection] | None = None
        self._direct = False
        self._polls = 0
        self._lock = threading.Lock()

    async def poll(self) -> PollResult:
        return await asyncio.to_thread(self._poll_locked)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _poll_locked(self) -> PollResult:
        with self._lock:
            try:
                return self._poll()
            except (SourceError, ConfigError):
                self._reset()
                raise
            # The caldav package and its HTTP client raise many unrelated types (DAVError,
            # niquests/requests errors, lxml errors, ...); a source must fail, not the service.
            except Exception as exc:
                self._reset()
                raise SourceError(
                    self.key, f"{redact_url(self.config.url)}: {type(exc).__name__}: {exc}"
                ) from exc

    def _reset(self) -> None:
        # Rediscover and reconnect next time; the synchronized objects stay valid.
        self._polls = 0
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connect(self) -> Any:
        if self._client is None:
            self._client = DAVClient(
                url=self.config.url,
                username=self.config.username,
                password=self.config.secret(),
                timeout=int(self.timeout),
                ssl_verify_cert=self.config.verify_tls,
                require_tls=not self.config.allow_insecure_http,
            )
        return self._client

    def _poll(self) -> PollResult:
        client = self._connect()
        changed = False
        if self._collections is None or (
            not self._direct and self._polls % self.REDISCOVER_EVERY == 0
        ):
            before = [c.url for c in self._collections or []]
            self._collections = self._discover(client, self._collections or [])
            # a calendar added or removed in the account changes the documents too
            changed = before != [c.url for c in self._collections]
        self._polls += 1
        for collection in self._collections:
            changed |= self._sync(client, collection)
        if not changed and self._polls > 1:
            return UNCHANGED
        documents = {
            url: Document(c.label, url, text, etag)
            for c in self._collections
            for url, (etag, text) in c.objects.items()
        }
        return PollResult(documents)

    def _discover(self, client: Any, known: list[_Collection]) -> list[_Collection]:
        previous = {c.url: c for c in known}
        self.metrics.requests.labels(self.key, "discover").inc()
        target = client.calendar(url=self.config.url)
        kinds = target.get_properties([dav.ResourceType()]).get(dav.ResourceType.tag) or []
        if "{urn:ietf:params:xml:ns:caldav}calendar" in kinds:
            self._direct = True
            url = str(target.url)
            return [previous.get(url) or _Collection(url, self.name)]
        self.metrics.requests.labels(self.key, "discover").inc()
        calendars = client.principal().calendars()
        wanted = set(self.config.calendars)
        found: list[_Collection] = []
        for calendar in calendars:
            ident = _collection_id(str(calendar.url))
            if (
                wanted
                and ident not in wanted
                and (getattr(calendar, "name", None) or "") not in wanted
            ):
                continue
            url = str(calendar.url)
            found.append(previous.get(url) or _Collection(url, f"{self.name}/{ident}"))
        if not found:
            raise SourceError(
                self.key,
                f"{redact_url(self.config.url)}: no calendar "
                "collection found" + (f" named {sorted(wanted)}" if wanted else ""),
            )
        return found

    def _sync(self, client: Any, collection: _Collection) -> bool:
        """Bring ``collection`` up to date; True if any object changed."""
        calendar = client.calendar(url=collection.url)
        self.metrics.requests.labels(self.key, "probe").inc()
        props = calendar.get_properties([dav.SyncToken(), _GetCtag()])
        token, ctag = props.get(dav.SyncToken.tag), props.get(_GetCtag.tag)
        if (
            collection.loaded
            and (token or ctag)
            and (token, ctag) == (collection.sync_token, collection.ctag)
        ):
            return False
        listed, deleted, delta, new_token = self._list(calendar, collection)
        before = dict(collection.objects)
        if not delta:
            for url in set(collection.objects) - set(listed):
                del collection.objects[url]
        for url in deleted:
            collection.objects.pop(url, None)
        stale = [
            url
            for url, etag in listed.items()
            if url not in collection.objects or collection.objects[url][0] != etag or not etag
        ]
        if stale:
            self._fetch(calendar, collection, stale)
        collection.sync_token = new_token if new_token else token
        collection.ctag = ctag
        first = not collection.loaded
        collection.loaded = True
        return first or collection.objects != before

    def _list(
        self, calendar: Any, collection: _Collection
    ) -> tuple[dict[str, str], set[str], bool, str | None]:
        """(url -> etag, deleted urls, whether it is a delta, new sync token)."""
        self.metrics.requests.labels(self.key, "list").inc()
        if collection.loaded and collection.sync_token:
            try:
                result = calendar.get_objects_by_sync_token(
                    collection.sync_token, load_objects=False, disable_fallback=True
                )
                listed = {str(o.url.canonical()): _etag(o) for o in result.objects}
                deleted = {str(u) for u in result.deleted_urls}
                for url in deleted:
                    listed.pop(url, None)
                return listed, deleted, True, _str_or_none(result.sync_token)
            except caldav_error.DAVError:
                pass  # expired token (RFC 6578 §3.2) or no support: list everything
        result = calendar.get_objects_by_sync_token(None, load_objects=False)
        listed = {}
        for obj in result.objects:
            url = str(obj.url.canonical())
            listed[url] = _etag(obj)
            if obj.is_loaded() and listed[url]:
                # the full-retrieval fallback already brought the data along
                collection.objects[url] = (listed[url], str(obj.data))
                self.metrics.downloads.labels(self.key).inc()
        return listed, set(), False, _str_or_none(result.sync_token)

    def _fetch(self, calendar: Any, collection: _Collection, urls: list[str]) -> None:
        self.metrics.requests.labels(self.key, "fetch").inc()
        for obj in calendar.multiget([URL.objectify(u) for u in urls]):
            data = str(obj.data)
            collection.objects[str(obj.url.canonical())] = (_etag(obj), data)
            self.metrics.downloads.labels(self.key).inc()
            self.metrics.bytes.labels(self.key).inc(len(data.encode()))


def _etag(obj: Any) -> str:
    props = getattr(obj, "props", None) or {}
    return str(props.get(dav.GetEtag.tag) or "")


def _str_or_none(value: Any) -> str | None:
    return str(value) if value else None


def _collection_id(url: str) -> str:
    return unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])


class _GetCtag(ValuedBaseElement):
    """CalendarServer's collection tag: changes whenever any object of the collection does."""

    tag: ClassVar[str] = "{http://calendarserver.org/ns/}getctag"


def build_source(
    jid: str, config: SourceConfig, metrics: CalendarMetrics, *, timeout: float, max_bytes: int
) -> Source:
    key = f"{jid}/{config.name}"
    if config.type == "caldav":
        if not config.url.startswith(("http://", "https://")):
            raise ConfigError(f"source {key}: a CalDAV url must be http(s)://")
        if config.url.startswith("http://") and config.username and not config.allow_insecure_http:
            raise ConfigError(f"source {key}: credentials over plain http need allow_insecure_http")
        return CalDavSource(key, config.name, config, metrics, timeout=timeout)
    if config.url.startswith(("http://", "https://", "webcal://")):
        return IcsUrlSource(
            key,
            config.name,
            config.url,
            metrics,
            username=config.username,
            password=config.secret(),
            verify_tls=config.verify_tls,
            timeout=timeout,
            max_bytes=max_bytes,
        )
    path = (
        Path(unquote(urlsplit(config.url).path))
        if config.url.startswith("file://")
        else Path(config.url)
    )
    return IcsFileSource(key, config.name, path, metrics, max_bytes)
