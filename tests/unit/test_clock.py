"""SimClock (max speed as a discrete-event scheduler, finite speeds, controls) and WallClock."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from workstation.core import clock as clock_module
from workstation.core.calendar import ET
from workstation.core.clock import Clock, ClockState, SimClock, WallClock

T = TypeVar("T")

START = datetime(2024, 3, 11, 9, 0, tzinfo=ET)


def et(h: int, m: int = 0, s: int = 0, day: int = 11) -> datetime:
    return datetime(2024, 3, day, h, m, s, tzinfo=ET)


def run(coro: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
    """Run a test coroutine on a fresh loop; a hang fails the test instead of blocking."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def wait_for_condition(cond: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)


def test_both_clocks_satisfy_protocol() -> None:
    assert isinstance(WallClock(), Clock)
    assert isinstance(SimClock(START), Clock)


# ------------------------------------------------------------------ max speed


def test_max_speed_wakes_concurrent_sleepers_in_deadline_order() -> None:
    async def main() -> list[tuple[str, datetime]]:
        clock = SimClock(START, speed=math.inf)
        woke: list[tuple[str, datetime]] = []

        async def sleeper(name: str, t: datetime) -> None:
            await clock.sleep_until(t)
            woke.append((name, clock.now()))

        # Registered latest-deadline first: order must come from the deadlines.
        await asyncio.gather(
            sleeper("entry-a", et(9, 30)),
            sleeper("gap", et(9, 25)),
            sleeper("entry-b", et(9, 50)),
            sleeper("also-0930", et(9, 30)),
        )
        return woke

    t0 = time.monotonic()
    woke = run(main())
    assert time.monotonic() - t0 < 1.0
    assert woke == [
        ("gap", et(9, 25)),
        ("entry-a", et(9, 30)),
        ("also-0930", et(9, 30)),  # equal deadlines: registration order
        ("entry-b", et(9, 50)),
    ]
    assert all(t.tzinfo is ET for _, t in woke)


def test_max_speed_interleaves_periodic_tasks_deterministically() -> None:
    async def main() -> list[tuple[str, datetime]]:
        clock = SimClock(START, speed=math.inf)
        log: list[tuple[str, datetime]] = []

        async def every(name: str, minutes: int, count: int) -> None:
            for _ in range(count):
                await clock.sleep(minutes * 60)
                log.append((name, clock.now()))

        async def chained() -> None:
            # Work between sleeps that hops through a queue must finish before time moves.
            q: asyncio.Queue[int] = asyncio.Queue()
            for i in range(3):
                await clock.sleep(7 * 60)
                await q.put(i)
                await asyncio.sleep(0)
                await q.get()
                log.append(("chained", clock.now()))

        await asyncio.gather(every("m5", 5, 6), every("m10", 10, 3), chained())
        return log

    log = run(main())
    times = [t for _, t in log]
    assert times == sorted(times)
    assert [(n, t.strftime("%H:%M")) for n, t in log] == [
        ("m5", "09:05"),
        ("chained", "09:07"),
        ("m10", "09:10"),  # equal deadlines: the earlier registration first
        ("m5", "09:10"),
        ("chained", "09:14"),
        ("m5", "09:15"),
        ("m10", "09:20"),
        ("m5", "09:20"),
        ("chained", "09:21"),
        ("m5", "09:25"),
        ("m10", "09:30"),
        ("m5", "09:30"),
    ]


def test_max_speed_lets_work_chained_through_other_tasks_finish_first() -> None:
    async def main() -> datetime:
        clock = SimClock(START, speed=math.inf)
        q: asyncio.Queue[int] = asyncio.Queue()
        seen: list[datetime] = []

        async def producer() -> None:
            await clock.sleep_until(et(9, 1))
            q.put_nowait(1)

        async def consumer() -> None:
            await q.get()
            for _ in range(5):  # a few loop hops of follow-up work
                await asyncio.sleep(0)
            seen.append(clock.now())

        async def next_event() -> None:
            await clock.sleep_until(et(9, 2))

        await asyncio.gather(producer(), consumer(), next_event())
        return seen[0]

    # The consumer's work belongs to 09:01: time must not move to 09:02 under it.
    assert run(main()) == et(9, 1)


def test_max_speed_waits_for_hold() -> None:
    async def main() -> None:
        clock = SimClock(START, speed=math.inf)
        woke_at: list[datetime] = []

        async def sleeper() -> None:
            await clock.sleep_until(et(9, 30))
            woke_at.append(clock.now())

        with clock.hold():
            task = asyncio.create_task(sleeper())
            # Real work the loop cannot see (an executor job): time must not jump meanwhile.
            await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.05)
            assert clock.now() == START
            assert not task.done()
        await task
        assert woke_at == [et(9, 30)]

    run(main())


def test_max_speed_elapsed_time_is_absolute_across_dst() -> None:
    async def main() -> None:
        clock = SimClock(datetime(2024, 3, 10, 1, 30, tzinfo=ET), speed=math.inf)
        await clock.sleep(3600)
        # One real hour after 01:30 EST is 03:30 EDT (02:xx does not exist that night).
        assert clock.now() == datetime(2024, 3, 10, 3, 30, tzinfo=ET)
        assert clock.now().utcoffset() == timedelta(hours=-4)
        clock2 = SimClock(datetime(2024, 11, 3, 0, 30, tzinfo=ET), speed=math.inf)
        await clock2.sleep(2 * 3600)
        # Fall back: two hours after 00:30 EDT is 01:30 EST.
        assert clock2.now().astimezone(UTC) == datetime(2024, 11, 3, 6, 30, tzinfo=UTC)
        assert clock2.now().utcoffset() == timedelta(hours=-5)

    run(main())


def test_cancelled_sleeper_does_not_block_or_move_time() -> None:
    async def main() -> None:
        clock = SimClock(START, speed=math.inf)
        early = asyncio.create_task(clock.sleep_until(et(9, 10)))
        await asyncio.sleep(0)
        early.cancel()
        with pytest.raises(asyncio.CancelledError):
            await early
        assert clock.pending() == 0
        await clock.sleep_until(et(9, 40))
        assert clock.now() == et(9, 40)

    run(main())


# --------------------------------------------------------------- finite speed


def test_finite_speed_sleep_takes_scaled_real_time() -> None:
    async def main() -> tuple[float, datetime]:
        clock = SimClock(START, speed=36_000.0)  # 1 simulated hour = 0.1 s real
        t0 = time.monotonic()
        await clock.sleep_until(et(10, 0))
        return time.monotonic() - t0, clock.now()

    elapsed, now = run(main())
    assert 0.08 <= elapsed < 1.0
    assert et(10, 0) <= now < et(10, 0) + timedelta(seconds=36_000 * 0.5)


def test_finite_speed_now_advances_with_real_time() -> None:
    ticks = iter([0.0, 0.0, 1.0, 2.5])  # injected monotonic source

    clock = SimClock(START, speed=60.0, real_time=lambda: next(ticks))
    assert clock.now() == START  # real 0.0
    assert clock.now() == START + timedelta(seconds=60)  # real 1.0
    assert clock.now() == START + timedelta(seconds=150)  # real 2.5


def test_sleep_until_past_returns_without_moving_time() -> None:
    async def main() -> None:
        clock = SimClock(START, speed=math.inf)
        await clock.sleep_until(et(8, 0))
        await clock.sleep(0)
        await clock.sleep(-5)
        assert clock.now() == START

    run(main())


def test_pause_and_resume() -> None:
    async def main() -> None:
        clock = SimClock(START, speed=3_600.0)  # 20 simulated minutes = 0.33 s real
        task = asyncio.create_task(clock.sleep_until(et(9, 20)))
        await asyncio.sleep(0.01)
        clock.pause()
        frozen = clock.now()
        assert clock.paused
        await asyncio.sleep(0.4)  # 24 simulated minutes if it were running
        assert clock.now() == frozen
        assert not task.done()
        assert START < frozen < et(9, 20)
        t0 = time.monotonic()
        clock.resume()
        assert not clock.paused
        # Resuming continues from the frozen instant: the paused real time is not counted.
        assert frozen <= clock.now() < frozen + timedelta(minutes=2)
        await task
        assert time.monotonic() - t0 < 1.0
        assert clock.now() >= et(9, 20)

    run(main())


def test_set_speed_mid_sleep_retimes_sleepers() -> None:
    async def main() -> None:
        clock = SimClock(START, speed=3_600.0)  # a 1 h sleep would take 1 s
        t0 = time.monotonic()
        task = asyncio.create_task(clock.sleep_until(et(10, 0)))
        await asyncio.sleep(0)  # let it register its deadline
        clock.set_speed(360_000.0)  # the hour now takes ~10 ms
        await task
        assert time.monotonic() - t0 < 0.5
        assert clock.now() >= et(10, 0)

        # Slowing down must not wake a sleeper at its old (sooner) real time.
        clock.set_speed(36_000.0)  # 1 h = 0.1 s
        task2 = asyncio.create_task(clock.sleep_until(clock.now() + timedelta(hours=1)))
        await asyncio.sleep(0)
        clock.set_speed(360.0)  # the hour now takes ~10 s
        await asyncio.sleep(0.2)  # well past the old wake-up time
        assert not task2.done()
        clock.set_speed(math.inf)
        await task2

    run(main())


def test_speed_validation() -> None:
    clock = SimClock(START)
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="speed"):
            clock.set_speed(bad)
    with pytest.raises(ValueError, match="speed"):
        SimClock(START, speed=0.0)
    with pytest.raises(ValueError, match="no time zone"):
        SimClock(datetime(2024, 3, 11, 9, 0))


def test_naive_deadline_rejected() -> None:
    async def main() -> None:
        clock = SimClock(START, speed=math.inf)
        with pytest.raises(ValueError, match="no time zone"):
            await clock.sleep_until(datetime(2024, 3, 11, 9, 30))
        with pytest.raises(ValueError, match="finite"):
            await clock.sleep(math.inf)

    run(main())


# ------------------------------------------------------------------ jumps


def test_jump_to_next_steps_one_deadline_at_a_time() -> None:
    async def main() -> None:
        clock = SimClock(START, speed=1.0)
        clock.pause()
        woke: list[tuple[str, datetime]] = []

        async def sleeper(name: str, t: datetime) -> None:
            await clock.sleep_until(t)
            woke.append((name, clock.now()))

        tasks = [
            asyncio.create_task(sleeper("a", et(9, 30))),
            asyncio.create_task(sleeper("gap", et(9, 25))),
        ]
        await asyncio.sleep(0)
        assert clock.next_deadline() == et(9, 25)
        assert clock.jump_to_next() == et(9, 25)
        await wait_for_condition(lambda: len(woke) == 1)
        assert woke == [("gap", et(9, 25))]
        assert clock.now() == et(9, 25)
        assert clock.paused  # a step does not resume the clock
        assert clock.jump_to_next() == et(9, 30)
        await asyncio.gather(*tasks)
        assert woke == [("gap", et(9, 25)), ("a", et(9, 30))]
        assert clock.jump_to_next() is None
        assert clock.now() == et(9, 30)

    run(main())


def test_jump_to_processes_intermediate_deadlines_in_order() -> None:
    async def main() -> None:
        clock = SimClock(START, speed=10.0)
        woke: list[tuple[str, datetime]] = []

        async def sleeper(name: str, t: datetime) -> None:
            await clock.sleep_until(t)
            woke.append((name, clock.now()))

        tasks = [
            asyncio.create_task(sleeper(n, t))
            for n, t in [("b", et(9, 50)), ("a", et(9, 30)), ("late", et(11, 0))]
        ]
        await asyncio.sleep(0)
        clock.jump_to(et(10, 0))
        await wait_for_condition(lambda: clock.now() >= et(10, 0))
        assert woke == [("a", et(9, 30)), ("b", et(9, 50))]
        assert clock.now() < et(10, 1)  # runs on at 10x from 10:00
        assert not tasks[2].done()
        with pytest.raises(ValueError, match="backwards"):
            clock.jump_to(et(9, 0))
        clock.set_speed(math.inf)
        await asyncio.gather(*tasks)
        assert woke[-1] == ("late", et(11, 0))

    run(main())


def test_jump_with_nobody_sleeping_is_immediate() -> None:
    clock = SimClock(START, speed=1.0)
    clock.pause()
    clock.jump_to(et(12, 0))
    assert clock.now() == et(12, 0)
    assert clock.jump_to_next() is None


def test_time_never_goes_backwards() -> None:
    async def main() -> tuple[list[datetime], datetime]:
        clock = SimClock(START, speed=100_000.0)
        seen: list[datetime] = []

        async def sampler() -> None:
            for _ in range(200):
                seen.append(clock.now())
                await asyncio.sleep(0.0005)

        async def fiddler() -> None:
            for speed in (1.0, 1e6, 50.0, math.inf, 3.0, 1e5):
                await asyncio.sleep(0.008)
                clock.set_speed(speed)
                clock.pause()
                seen.append(clock.now())
                clock.jump_to(clock.now() + timedelta(minutes=1))
                clock.resume()
                seen.append(clock.now())

        async def sleeper() -> None:
            for _ in range(30):
                await clock.sleep(45)
                seen.append(clock.now())

        await asyncio.gather(sampler(), fiddler(), sleeper())
        return seen, clock.now()

    seen, final = run(main())
    assert len(seen) > 200
    assert all(a <= b for a, b in itertools.pairwise(seen))
    assert final >= START + timedelta(seconds=30 * 45)
    assert seen[-1] <= final


def test_on_change_listener() -> None:
    async def main() -> list[ClockState]:
        clock = SimClock(START, speed=60.0)
        states: list[ClockState] = []

        def broken(_: ClockState) -> None:
            raise RuntimeError("a broken listener must not stop the clock")

        clock.on_change(broken)
        unsubscribe = clock.on_change(states.append)
        clock.pause()
        clock.set_speed(math.inf)
        clock.resume()
        await clock.sleep_until(et(9, 30))  # a jump of time at max speed is reported
        unsubscribe()
        clock.set_speed(2.0)
        return states

    states = run(main())
    assert [(s.speed, s.paused) for s in states] == [
        (60.0, True),
        (math.inf, True),
        (math.inf, False),
        (math.inf, False),
    ]
    assert states[-1].now == et(9, 30)


# ------------------------------------------------------------------ WallClock


def test_wall_clock_now_is_et_and_current() -> None:
    clock = WallClock()
    now = clock.now()
    assert now.tzinfo is ET
    assert abs((now.astimezone(UTC) - datetime.now(UTC)).total_seconds()) < 5
    assert clock.speed == 1.0
    assert clock.paused is False
    with clock.hold():
        pass


def test_wall_clock_sleeps_in_chunks_and_rechecks(monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep = asyncio.sleep
    chunks: list[float] = []

    async def recording_sleep(delay: float, *args: Any) -> Any:
        chunks.append(delay)
        return await real_sleep(delay, *args)

    monkeypatch.setattr(clock_module.asyncio, "sleep", recording_sleep)

    async def main() -> float:
        clock = WallClock(max_chunk=0.02)
        deadline = clock.now() + timedelta(seconds=0.1)
        await clock.sleep_until(deadline)
        return (clock.now() - deadline).total_seconds()

    late = run(main())
    assert late >= 0
    assert late < 0.5
    assert len(chunks) >= 5
    assert max(chunks) <= 0.02
    with pytest.raises(ValueError, match="max_chunk"):
        WallClock(max_chunk=0)


def test_wall_clock_past_deadline_returns() -> None:
    async def main() -> None:
        clock = WallClock()
        t0 = time.monotonic()
        await clock.sleep_until(clock.now() - timedelta(hours=1))
        await clock.sleep(0.01)
        assert time.monotonic() - t0 < 0.5

    run(main())
