"""Walk-forward windows (rules §15): train sessions choose, the next test sessions judge,
windows roll by test; the live window is the last train sessions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from workstation.research.optimize.windows import (
    WindowError,
    make_windows,
    parse_walk_forward,
    untested_tail,
)


def _sessions(n: int) -> list[date]:
    start = date(2020, 1, 1)
    return [start + timedelta(days=i) for i in range(n)]


@pytest.mark.parametrize(
    ("text", "train", "test"),
    [("3y:1y", 756, 252), ("18m:6m", 378, 126), ("120:40", 120, 40), ("10w:2w", 50, 10),
     ("60d:20d", 60, 20), (" 2Y : 6M ", 504, 126)],
)  # fmt: skip
def test_lengths_in_sessions(text: str, train: int, test: int) -> None:
    wf = parse_walk_forward(text)
    assert (wf.train, wf.test) == (train, test)


@pytest.mark.parametrize(
    ("text", "message"),
    [("3y", "write TRAIN:TEST"), ("3x:1y", "is not a length"), ("3y:", "is not a length"),
     ("1:1", "at least 2 sessions"), ("-3y:1y", "is not a length")],
)  # fmt: skip
def test_bad_walk_forward(text: str, message: str) -> None:
    with pytest.raises(WindowError, match=message):
        parse_walk_forward(text)


def test_windows_roll_by_test_and_only_test_sessions_are_judged() -> None:
    s = _sessions(100)
    windows, live = make_windows(s, parse_walk_forward("40:20"))
    # train 0-39 test 40-59; train 20-59 test 60-79; train 40-79 test 80-99
    assert [(w.train.first, w.train.last, w.test.first, w.test.last) for w in windows] == [
        (s[0], s[39], s[40], s[59]),
        (s[20], s[59], s[60], s[79]),
        (s[40], s[79], s[80], s[99]),
    ]
    for w in windows:
        assert w.train.n == 40 and w.test.n == 20
        assert s.index(w.test.first) == s.index(w.train.last) + 1  # test follows train
    tests = [d for w in windows for d in s[s.index(w.test.first) : s.index(w.test.last) + 1]]
    assert tests == s[40:]  # the test windows tile the rest of the period, no overlap
    assert (live.train.first, live.train.last, live.test) == (s[60], s[99], None)
    assert untested_tail(s, windows) is None


def test_a_short_last_test_window_down_to_half_then_a_named_tail() -> None:
    s = _sessions(95)
    windows, _ = make_windows(s, parse_walk_forward("40:20"))
    assert windows[-1].test.n == 15 and windows[-1].test.last == s[94]
    s = _sessions(88)
    windows, _ = make_windows(s, parse_walk_forward("40:20"))
    assert [w.test.n for w in windows] == [20, 20]
    tail = untested_tail(s, windows)
    assert tail is not None and (tail.first, tail.last, tail.n) == (s[80], s[87], 8)


def test_a_period_too_short_for_one_window_is_one_line() -> None:
    with pytest.raises(WindowError) as err:
        make_windows(_sessions(300), parse_walk_forward("1y:1y"))
    assert "the period has 300 sessions; 252 to train and 252 to test need at least 504" in str(
        err.value
    )
