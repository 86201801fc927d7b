"""The benchmark's side of the watcher: start its process, collect notification times."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from typing import Any

from bench.watcher import WatcherParams, watch

__all__ = ["Arrivals", "WatcherFailed"]


class WatcherFailed(RuntimeError):
    """The watcher process could not log in or lost its stream."""


class Arrivals:
    """Item id → first arrival time at the watcher, fed by the watcher process."""

    def __init__(self, params: WatcherParams) -> None:
        # spawn: a clean interpreter, not a fork of this process's event loop and sockets.
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=True)
        self._process = ctx.Process(target=watch, args=(params, child), daemon=True)
        self._child_conn = child
        self.times: dict[str, float] = {}
        self.duplicates = 0
        self.disco_answered = 0
        self.last_disco = 0.0
        self.full_jid = ""
        self._ready: asyncio.Future[None] | None = None
        self._awaited: set[str] = set()
        self._all_arrived = asyncio.Event()
        self.failure: str | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid

    async def start(self, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._process.start()
        self._child_conn.close()
        loop.add_reader(self._conn.fileno(), self._on_data)
        async with asyncio.timeout(timeout):
            await self._ready

    def _on_data(self) -> None:
        try:
            while self._conn.poll():
                self._dispatch(self._conn.recv())
        except EOFError:
            asyncio.get_running_loop().remove_reader(self._conn.fileno())
            self._fail(self.failure or "watcher process exited")

    def _fail(self, why: str) -> None:
        self.failure = why
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(WatcherFailed(why))
        self._all_arrived.set()  # wake waiters; they check `failure`

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        tag = message[0]
        if tag == "items":
            for item_id, arrived in message[1]:
                if item_id in self.times:
                    self.duplicates += 1
                    continue
                self.times[item_id] = arrived
                if self._awaited:
                    self._awaited.discard(item_id)
                    if not self._awaited:
                        self._all_arrived.set()
        elif tag == "disco":
            self.disco_answered, self.last_disco = message[1], message[2]
        elif tag == "ready":
            self.full_jid = message[1]
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
        elif tag == "failed":
            self._fail(message[1])

    async def disco_settled(self, quiet: float = 0.5, timeout: float = 30.0) -> int:
        """Wait until mod_pep has stopped asking for our features (it asks once per user
        whose presence it processed before learning our caps hash)."""
        async with asyncio.timeout(timeout):
            # Polled: "nothing for `quiet` seconds" is the absence of an event.
            while self.disco_answered == 0 or time.time() - self.last_disco < quiet:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        return self.disco_answered

    async def wait_for(self, item_ids: set[str], timeout: float) -> set[str]:
        """Wait until every one of ``item_ids`` arrived; return those that did not."""
        self._awaited = set(item_ids) - self.times.keys()
        if not self._awaited:
            return set()
        self._all_arrived.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._all_arrived.wait()
        except TimeoutError:
            pass
        if self.failure is not None:
            raise WatcherFailed(self.failure)
        missing, self._awaited = self._awaited, set()
        return missing

    async def stop(self) -> None:
        if self._process.is_alive():
            self._conn.send("stop")
            await asyncio.to_thread(self._process.join, 10)
        if self._process.is_alive():
            self._process.terminate()  # our own child, by its handle
            await asyncio.to_thread(self._process.join, 5)
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._conn.fileno())
        self._conn.close()
