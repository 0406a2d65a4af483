"""Sans-I/O splitting of a device's byte stream into bounded lines.

Extron SIS (LF, after CR) and PJLink (CR) are line protocols whose devices
can send garbage or never end a line. :class:`LineBuffer` hands out complete
lines as they arrive and keeps at most ``max_line`` bytes of an unfinished
one: beyond that, :meth:`take_overflow` gives the bytes to report (as a
fault) and the rest of that line is skipped up to its terminator, so the
reader resynchronises on the next line.
"""

from __future__ import annotations

__all__ = ["LineBuffer"]


class LineBuffer:
    """Complete lines out of a byte stream, with a bound on the unfinished one.

    Args:
        terminator: the byte that ends a line (``b"\\n"``, ``b"\\r"``).
        max_line: most bytes kept of an unfinished line.
    """

    def __init__(self, terminator: bytes, *, max_line: int) -> None:
        if len(terminator) != 1:
            raise ValueError("the terminator is one byte")
        self._terminator = terminator
        self._max_line = max_line
        self._buffer = bytearray()
        self._discarding = False

    def clear(self) -> None:
        """Forget everything (a new connection)."""
        self._buffer.clear()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the lines it completed, each with its terminator.

        The tail of a line cut by :meth:`take_overflow` is dropped, not returned.
        """
        self._buffer += data
        lines = []
        while (end := self._buffer.find(self._terminator)) >= 0:
            raw = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            if self._discarding:
                self._discarding = False
                continue
            lines.append(raw)
        return lines

    @property
    def pending(self) -> bytes:
        """The unfinished line so far (e.g. a prompt that ends without a terminator)."""
        return bytes(self._buffer)

    def take_pending(self) -> bytes:
        """Take the unfinished line as it is (the caller has recognised it)."""
        raw = bytes(self._buffer)
        self._buffer.clear()
        return raw

    def take_overflow(self) -> bytes | None:
        """The unfinished line if it outgrew ``max_line``; the rest of it is then skipped."""
        if len(self._buffer) <= self._max_line:
            return None
        raw = self.take_pending()
        self._discarding = True
        return raw
