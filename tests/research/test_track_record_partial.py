"""The track record while its reference backtest is still being built (issue 11.1): the
service reads the trades the build has made so far and shows them, with the period they cover,
until the finished backtest replaces them. The build's child process is stood in for by a job
that reports progress on a real store written meanwhile (a real SQLite file, held open by its
writer as the backtest holds it)."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.unit.research_plant import Planted, plant
from workstation.core.calendar import get_calendar
from workstation.core.config_files import ConfigManager
from workstation.core.paths import Paths
from workstation.research.evidence import service as service_mod
from workstation.research.evidence.jobs import JobResult
from workstation.research.evidence.service import EvidenceService
from workstation.research.evidence.status import RecordState
from workstation.research.evidence.track_record import load_book, load_partial_book
from workstation.store import Store

CAL = get_calendar()
DAYS = CAL.sessions_in_range(date(2024, 1, 2), date(2024, 3, 28))


class FakeBuild:
    """Stands in for the ``workstation backtest`` child: the test drives its progress."""

    made: ClassVar[list[FakeBuild]] = []

    def __init__(self, args: list[str], on_progress: Any, on_done: Any, background: bool):
        self.args, self.on_progress, self.on_done = args, on_progress, on_done
        self.running = False
        FakeBuild.made.append(self)

    def start(self) -> FakeBuild:
        self.running = True
        return self

    def cancel(self) -> None:
        self.running = False


def _trades(n: int) -> list[Planted]:
    return [
        Planted(
            f"S{i:02d}", "rsi_reversion", "long", 10, 100.0, 104.0 if i % 2 else 98.0,
            DAYS[2 * i], DAYS[2 * i + 2], "TAKE_PROFIT" if i % 2 else "STOP_LOSS", "RANGING",
        )
        for i in range(n)
    ]  # fmt: skip


def test_partial_book_reads_a_store_its_writer_holds_open(tmp_path: Path) -> None:
    path = plant(tmp_path / "run.db", 100_000.0, [(d, 100_000.0) for d in DAYS[:20]], _trades(6))
    with Store.open(path):  # the writer still has it open
        book = load_partial_book(path, first=DAYS[0], last=DAYS[19], param_hash="h", market="sim")
    assert book is not None and book.partial and (book.first, book.last) == (DAYS[0], DAYS[19])
    assert book.trades == load_book(path).trades and len(book.trades) == 6
    missing = tmp_path / "not-yet.db"
    assert (
        load_partial_book(missing, first=DAYS[0], last=DAYS[1], param_hash="h", market="x") is None
    )
    assert not missing.exists()  # a reader never creates the store


def test_the_record_appears_while_its_backtest_is_built_then_the_finished_one_replaces_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = Paths.resolve(home)
    monkeypatch.setattr(service_mod, "ChildJob", FakeBuild)
    monkeypatch.setattr(service_mod, "PARTIAL_EVERY_S", 0.0)
    FakeBuild.made.clear()
    manager = ConfigManager(paths.config_dir, paths.config_history_dir)
    service = EvidenceService(paths, "sim", CAL, lambda: manager.current)
    store = paths.data_dir / "backtests" / "building.db"
    store.parent.mkdir(parents=True)

    def record() -> Any:
        return service.track_record("rsi_reversion", "long", "RANGING", "Utilities")

    async def until(cond: Any, what: str) -> None:
        for _ in range(400):
            if cond():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")

    async def scenario() -> None:
        assert record().state is RecordState.WORKING and record().record is None
        await until(lambda: FakeBuild.made, "the build to start")
        [job] = FakeBuild.made
        assert job.args[-4:] == ["backtest", "--json", "--progress", "json"]
        job.on_progress(
            {"done": 0, "total": 60, "session": DAYS[0].isoformat(), "store": str(store)}
        )
        assert record().record is None  # no store yet: still building, nothing to show
        # 30 sessions in: the store holds the first 6 trades
        plant(store, 100_000.0, [(d, 100_000.0) for d in DAYS[:30]], _trades(6))
        job.on_progress(
            {"done": 30, "total": 60, "session": DAYS[29].isoformat(), "store": str(store)}
        )
        await until(lambda: record().record is not None, "the partial record")
        status = record()
        assert status.state is RecordState.WORKING and status.progress == 0.5
        book = status.record.book
        assert book.partial and (book.first, book.last) == (DAYS[0], DAYS[29])
        assert status.record.scope("regime").n == 6
        assert status.message.startswith(f"So far {DAYS[0]} .. {DAYS[29]}: the backtest")
        # the build ends: the partial book goes, the finished backtest is looked for
        job.running = False
        job.on_done(JobResult(1, None, "stopped for the test"))
        assert service._partial is None

    try:
        asyncio.run(scenario())
    finally:
        service.shutdown()
