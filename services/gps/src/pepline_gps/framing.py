"""Newline framing of a byte stream, robust to partial and over-long lines (pure).

gpsd sends one JSON object per line, but TCP delivers bytes in arbitrary pieces: a report may
arrive in several reads, several reports in one. :class:`LineFramer` keeps the unfinished
tail between reads. A "line" longer than ``max_line`` (gpsd's longest reports are a few KB)
is not buffered without bound: it is skipped up to its newline and reported as garbage, and
so is an unfinished line left when the stream ends (a report cut off by a disconnect).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Garbage", "LineFramer"]


@dataclass(frozen=True)
class Garbage:
    """Bytes that could not be a report; ``size`` in bytes (content is not kept)."""

    reason: str
    size: int


class LineFramer:
    def __init__(self, max_line: int = 64 * 1024) -> None:
        if max_line < 1:
            raise ValueError("max_line must be positive")
        self.max_line = max_line
        self._tail = bytearray()
        self._skipping = 0  # bytes of an over-long line dropped so far (0: not skipping)

    def feed(self, data: bytes) -> list[bytes | Garbage]:
        """Complete lines (without the newline) and garbage found in ``data``, in order."""
        out: list[bytes | Garbage] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            piece = data[start:end]
            start = end + 1
            if self._skipping:
                out.append(Garbage("line too long", self._skipping + len(piece)))
                self._skipping = 0
                continue
            line = bytes(self._tail) + piece
            self._tail.clear()
            if len(line) > self.max_line:
                out.append(Garbage("line too long", len(line)))
            else:
                out.append(line)
        rest = data[start:]
        if self._skipping:
            self._skipping += len(rest)
        elif len(self._tail) + len(rest) > self.max_line:
            self._skipping = len(self._tail) + len(rest)
            self._tail.clear()
        else:
            self._tail += rest
        return out

    def end(self) -> Garbage | None:
        """The stream ended: an unfinished line is garbage (a report cut short)."""
        size = self._skipping or len(self._tail)
        reason = "line too long" if self._skipping else "unterminated line at end of stream"
        self._tail.clear()
        self._skipping = 0
        return Garbage(reason, size) if size else None
