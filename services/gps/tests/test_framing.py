"""Line framing: reports split anywhere, glued together, too long, or cut off."""

from __future__ import annotations

import pytest

from pepline_gps.framing import Garbage, LineFramer

REPORTS = [b'{"class":"VERSION","release":"3.22"}', b'{"class":"TPV","mode":1}']
STREAM = b"".join(r + b"\n" for r in REPORTS)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, len(STREAM)])
def test_reports_split_at_any_point_are_reassembled(size: int) -> None:
    framer = LineFramer()
    got = [x for i in range(0, len(STREAM), size) for x in framer.feed(STREAM[i : i + size])]
    assert got == REPORTS
    assert framer.end() is None


def test_crlf_line_ends_leave_a_cr_for_the_json_parser() -> None:
    assert LineFramer().feed(b"a\r\nb\n") == [b"a\r", b"b"]


def test_an_over_long_line_is_skipped_to_its_end_and_reported() -> None:
    framer = LineFramer(max_line=10)
    got = framer.feed(b"x" * 8) + framer.feed(b"y" * 8) + framer.feed(b"zz\nok\n")
    assert got == [Garbage("line too long", 18), b"ok"]


def test_an_over_long_line_in_one_piece() -> None:
    assert LineFramer(max_line=4).feed(b"12345\n1234\n") == [
        Garbage("line too long", 5),
        b"1234",
    ]


def test_a_line_cut_off_by_the_end_of_the_stream_is_garbage() -> None:
    framer = LineFramer()
    assert framer.feed(b'{"class":"TPV"}\n{"class":"TP') == [b'{"class":"TPV"}']
    assert framer.end() == Garbage("unterminated line at end of stream", 12)
    assert framer.end() is None  # and forgotten: a new connection starts clean


def test_max_line_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        LineFramer(max_line=0)
