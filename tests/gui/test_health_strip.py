"""The status strip's Health cell: the checks of ``workstation health`` on the running engines.

Real engines on the simulated market (the rig of test_app), a position planted at the
exchange outside the app: the cell turns FAILED and its tooltip names the broker difference
and the unprotected position; resolving the difference (flatten) brings it back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gui import test_app as rig
from workstation.selftest import prepare_home

pytestmark = [pytest.mark.gui, pytest.mark.timeout(120)]

# the real-engines rig of test_app: its fixtures, by name
scanned_home, qloop, wired = rig.scanned_home, rig.qloop, rig.wired
SESSION, at, run, until = rig.SESSION, rig.at, rig.run, rig.until


def test_the_health_cell_shows_a_planted_difference_and_its_repair(
    wired, qtbot, qloop, tmp_path: Path
) -> None:
    home = tmp_path / "fresh"
    prepare_home(home)
    w = wired(home, start=at(SESSION, "10:30"), reconcile=False)
    rig.plant_broker_position(w)
    facade = w.engines.facade
    cell = w.win.panels["status"].health
    assert cell.value.text() == "-"  # before the first checks

    run(qloop, w.engines.session.start())  # the start-up reconciliation finds it

    async def start() -> None:
        facade.start_health()  # as the facade's day loop does after that reconciliation

    run(qloop, start())
    run(qloop, until(lambda: "FAILED" in cell.value.text()))
    tip = cell.toolTip().splitlines()
    assert len(tip) == 8  # one line per check
    assert (
        "failed broker: the store and the broker disagree (1 difference): new trades are "
        "blocked until resolved" in tip
    )
    assert facade.status().health == "failed"
    report = facade.health.report  # type: ignore[union-attr]
    broker = next(c for c in report.checks if c.name == "broker")
    assert broker.details[0].startswith("position_only_at_broker: the broker holds +10 AAPL @ ")

    # the user flattens the outside position: the next checks see the store and broker agree
    (diff,) = facade.differences()

    async def flatten() -> None:
        await facade.resolve(diff.key, "flatten")

    run(qloop, flatten())
    run(qloop, until(lambda: "ok broker:" in cell.toolTip()))
