"""The bounded line splitter shared by the Extron and PJLink sessions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devices.line_buffer import LineBuffer


def test_line_buffer_lines_across_chunks_keep_terminator() -> None:
    lines = LineBuffer(b"\r", max_line=16)
    assert lines.feed(b"%1POWR=") == []
    assert lines.feed(b"OK\r%1INPT=31\r%1A") == [b"%1POWR=OK\r", b"%1INPT=31\r"]
    assert lines.pending == b"%1A"
    assert lines.take_pending() == b"%1A" and lines.pending == b""


def test_line_buffer_overlong_line_reported_once_then_resyncs() -> None:
    lines = LineBuffer(b"\n", max_line=8)
    assert lines.feed(b"0123456") == [] and lines.take_overflow() is None
    assert lines.feed(b"789AB") == []
    assert lines.take_overflow() == b"0123456789AB"
    assert lines.take_overflow() is None
    # The rest of the overlong line is skipped; the next line comes through.
    assert lines.feed(b"CDEF\nOut03 In01\n") == [b"Out03 In01\n"]


def test_line_buffer_clear_forgets_a_skipped_line() -> None:
    lines = LineBuffer(b"\n", max_line=4)
    lines.feed(b"too long")
    assert lines.take_overflow() == b"too long"
    lines.clear()  # reconnected: the next line is whole
    assert lines.feed(b"E01\n") == [b"E01\n"]


@given(st.lists(st.binary(max_size=12), max_size=20))
def test_line_buffer_chunking_does_not_change_lines(chunks: list[bytes]) -> None:
    whole, split = LineBuffer(b"\n", max_line=1000), LineBuffer(b"\n", max_line=1000)
    data = b"".join(chunks)
    assert [line for chunk in chunks for line in split.feed(chunk)] == whole.feed(data)
    assert split.pending == whole.pending
