"""The five strategies of trading rules §4: every boundary, strengths, explanations, config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from workstation.core.config import STRATEGY_PARAMS, build_strategies
from workstation.core.models import Group, Regime, Side
from workstation.signals.strategy_api import (
    Check,
    StrategyInputError,
    StrategyInputs,
    UnknownStrategy,
    evaluate_all,
    finish,
    registered_strategies,
    strategy_for,
)

REPO = Path(__file__).resolve().parents[2]

# Neutral values: no strategy fires on these.
NEUTRAL: dict[str, float] = {
    "close": 100.0,
    "rsi14": 50.0,
    "bb_up": 110.0,
    "bw_pct": 0.5,
    "prev_bw_pct": 0.5,
    "adx14": 15.0,
    "pdi": 20.0,
    "mdi": 20.0,
    "atr14": 2.0,
    "sma50": 100.0,
    "sma200": 100.0,
    "ema20": 100.0,
    "roc20": 0.0,
    "dv20": 5e7,
    "roc20_pct": 0.5,
}


def inputs(
    rows: list[dict[str, Any]], regime: Regime = Regime.TREND, eligible: list[bool] | None = None
) -> StrategyInputs:
    """StrategyInputs with one symbol per row (neutral values unless overridden)."""
    cols = {k: np.array([r.get(k, v) for r in rows], dtype=float) for k, v in NEUTRAL.items()}
    return StrategyInputs(
        symbols=tuple(f"S{i:02d}" for i in range(len(rows))),
        eligible=np.array(eligible if eligible is not None else [True] * len(rows)),
        regime=regime,
        **cols,
    )


def run(
    name: str, row: dict[str, Any], regime: Regime = Regime.TREND, **params: Any
) -> tuple[bool, float]:
    strat = strategy_for(name)
    p = strat.params_type(**params)
    res = strat.evaluate(inputs([row], regime), p)
    return bool(res.fires[0]), float(res.strength[0])


ABOVE_100 = float(np.nextafter(100.0, np.inf))
BELOW_25 = float(np.nextafter(25.0, -np.inf))

# ------------------------------------------------------------------ rsi_reversion
RSI_BASE = {"rsi14": 25.0, "close": 100.0, "sma200": 90.0}

RSI_CASES = [
    pytest.param({}, True, 0.25, id="rsi25-fires-strength-0.25"),
    pytest.param({"rsi14": 30.0}, False, 0.0, id="rsi-exactly-30-no-fire"),
    pytest.param({"rsi14": 29.999}, True, (30 - 29.999) / 20, id="rsi-29.999-fires"),
    pytest.param({"close": 90.0}, False, 0.0, id="close-equals-sma200-no-fire"),
    pytest.param(
        {"close": float(np.nextafter(90.0, np.inf))},
        True,
        0.25,
        id="close-one-ulp-above-sma200-fires",
    ),
    pytest.param({"close": 80.0}, False, 0.0, id="close-below-sma200-no-fire"),
    pytest.param({"rsi14": 10.0}, True, 1.0, id="rsi10-strength-exactly-1"),
    pytest.param({"rsi14": 2.0}, True, 1.0, id="rsi2-strength-clipped-to-1"),
    pytest.param({"rsi14": np.nan}, False, 0.0, id="rsi-nan-no-fire"),
    pytest.param({"sma200": np.nan}, False, 0.0, id="sma200-nan-no-fire"),
]


@pytest.mark.parametrize(("over", "fires", "strength"), RSI_CASES)
def test_rsi_reversion(over: dict[str, float], fires: bool, strength: float) -> None:
    got = run("rsi_reversion", {**RSI_BASE, **over})
    assert got[0] is fires
    assert got[1] == pytest.approx(strength, abs=1e-12)


def test_rsi_reversion_sma_filter_can_be_switched_off() -> None:
    assert run("rsi_reversion", {**RSI_BASE, "close": 80.0}, above_sma200=False)[0] is True
    assert run("rsi_reversion", {**RSI_BASE, "rsi14": 34.0}, rsi_below=35.0) == (True, 0.05)


# --------------------------------------------------------------------- bb_squeeze
BB_BASE = {"prev_bw_pct": 0.10, "close": 105.0, "bb_up": 104.0, "bw_pct": 0.9}

BB_CASES = [
    # 24 of 120 values: how bw_pct lands on exactly 0.20 in practice.
    pytest.param({"prev_bw_pct": 24 / 120}, True, 0.0, id="prev-bw_pct-exactly-0.20-fires"),
    pytest.param({"prev_bw_pct": 0.2000001}, False, 0.0, id="prev-bw_pct-0.2000001-no-fire"),
    pytest.param({"prev_bw_pct": 0.10}, True, 0.5, id="prev-bw_pct-0.10-strength-0.5"),
    pytest.param({"prev_bw_pct": 0.0}, True, 1.0, id="prev-bw_pct-0-strength-1"),
    pytest.param({"close": 104.0}, False, 0.0, id="close-equals-bb_up-no-fire"),
    pytest.param(
        {"bw_pct": 0.05, "prev_bw_pct": 0.5}, False, 0.0, id="only-todays-bw_pct-low-no-fire"
    ),
    pytest.param({"prev_bw_pct": np.nan}, False, 0.0, id="prev-bw_pct-nan-no-fire"),
]


@pytest.mark.parametrize(("over", "fires", "strength"), BB_CASES)
def test_bb_squeeze(over: dict[str, float], fires: bool, strength: float) -> None:
    got = run("bb_squeeze", {**BB_BASE, **over})
    assert got[0] is fires
    assert got[1] == pytest.approx(strength, abs=1e-12)


def test_bb_squeeze_exact_boundary_value_is_the_float_020() -> None:
    # The boundary case above is only meaningful if 24/120 is the same float as 0.20.
    assert 24 / 120 == 0.20


# ------------------------------------------------------------------- adx_pullback
ADX_BASE = {
    "adx14": 30.0,
    "pdi": 30.0,
    "mdi": 15.0,
    "close": 100.0,
    "sma50": 95.0,
    "ema20": 100.0,
    "rsi14": 50.0,
}

ADX_CASES = [
    pytest.param({}, True, 0.2, id="adx30-fires-strength-0.2"),
    pytest.param({"adx14": 25.0}, True, 0.0, id="adx-exactly-25-fires-strength-0"),
    pytest.param({"adx14": 24.999}, False, 0.0, id="adx-24.999-no-fire"),
    pytest.param({"adx14": BELOW_25}, False, 0.0, id="adx-one-ulp-below-25-no-fire"),
    pytest.param({"adx14": 50.0}, True, 1.0, id="adx50-strength-exactly-1"),
    pytest.param({"adx14": 70.0}, True, 1.0, id="adx70-strength-clipped-to-1"),
    pytest.param({"pdi": 15.0}, False, 0.0, id="pdi-equals-mdi-no-fire"),
    pytest.param({"pdi": 10.0}, False, 0.0, id="pdi-below-mdi-no-fire"),
    pytest.param({"sma50": 100.0}, False, 0.0, id="close-equals-sma50-no-fire"),
    pytest.param({"close": 101.0, "sma50": 95.0}, True, 0.2, id="ema-band-exactly-plus-1pct"),
    pytest.param({"close": 99.0, "sma50": 95.0}, True, 0.2, id="ema-band-exactly-minus-1pct"),
    pytest.param(
        {"close": float(np.nextafter(101.0, np.inf))},
        False,
        0.0,
        id="ema-band-just-above-plus-1pct-no-fire",
    ),
    pytest.param(
        {"close": float(np.nextafter(99.0, -np.inf))},
        False,
        0.0,
        id="ema-band-just-below-minus-1pct-no-fire",
    ),
    pytest.param({"close": 100.5}, True, 0.2, id="ema-band-inside-fires"),
    pytest.param({"rsi14": 40.0}, True, 0.2, id="rsi-exactly-40-fires"),
    pytest.param({"rsi14": 55.0}, True, 0.2, id="rsi-exactly-55-fires"),
    pytest.param({"rsi14": 39.999}, False, 0.0, id="rsi-39.999-no-fire"),
    pytest.param({"rsi14": 55.001}, False, 0.0, id="rsi-55.001-no-fire"),
    pytest.param({"ema20": np.nan}, False, 0.0, id="ema20-nan-no-fire"),
]


@pytest.mark.parametrize(("over", "fires", "strength"), ADX_CASES)
def test_adx_pullback(over: dict[str, float], fires: bool, strength: float) -> None:
    got = run("adx_pullback", {**ADX_BASE, **over})
    assert got[0] is fires
    assert got[1] == pytest.approx(strength, abs=1e-12)


def test_adx_pullback_rejects_inverted_rsi_range() -> None:
    cls = STRATEGY_PARAMS["adx_pullback"]
    with pytest.raises(ValueError, match="rsi_min"):
        cls(rsi_min=60.0, rsi_max=50.0)


# --------------------------------------------------------------- overbought_short
OB_BASE = {"rsi14": 80.0, "close": 105.0, "bb_up": 104.0}

OB_CASES = [
    pytest.param({}, True, 1 / 3, id="rsi80-fires-strength-one-third"),
    pytest.param({"rsi14": 75.0}, False, 0.0, id="rsi-exactly-75-no-fire"),
    pytest.param({"rsi14": 75.001}, True, 0.001 / 15, id="rsi-75.001-fires"),
    pytest.param({"rsi14": 90.0}, True, 1.0, id="rsi90-strength-exactly-1"),
    pytest.param({"rsi14": 97.0}, True, 1.0, id="rsi97-strength-clipped-to-1"),
    pytest.param({"close": 104.0}, False, 0.0, id="close-equals-bb_up-no-fire"),
]


@pytest.mark.parametrize(("over", "fires", "strength"), OB_CASES)
def test_overbought_short(over: dict[str, float], fires: bool, strength: float) -> None:
    got = run("overbought_short", {**OB_BASE, **over})
    assert got[0] is fires
    assert got[1] == pytest.approx(strength, abs=1e-9)


# ---------------------------------------------------------------- regime_momentum
MOM_BASE = {"roc20_pct": 0.95, "close": 110.0, "sma50": 100.0, "sma200": 90.0, "adx14": 25.0}

MOM_CASES = [
    pytest.param({}, Regime.TREND, True, 0.5, id="pct0.95-fires-strength-0.5"),
    pytest.param(
        {"roc20_pct": 9 / 10}, Regime.TREND, True, 0.0, id="roc-pct-exactly-0.90-fires-strength-0"
    ),
    pytest.param({"roc20_pct": 0.8999}, Regime.TREND, False, 0.0, id="roc-pct-0.8999-no-fire"),
    pytest.param({"roc20_pct": 1.0}, Regime.TREND, True, 1.0, id="roc-pct-1-strength-1"),
    pytest.param({}, Regime.RANGING, False, 0.0, id="ranging-regime-no-fire"),
    pytest.param({}, Regime.HIGH_VOL, False, 0.0, id="high-vol-regime-no-fire"),
    pytest.param({"close": 100.0}, Regime.TREND, False, 0.0, id="close-equals-sma50-no-fire"),
    pytest.param({"sma200": 100.0}, Regime.TREND, False, 0.0, id="sma50-equals-sma200-no-fire"),
    pytest.param({"adx14": 20.0}, Regime.TREND, True, 0.5, id="adx-exactly-20-fires"),
    pytest.param({"adx14": 19.999}, Regime.TREND, False, 0.0, id="adx-19.999-no-fire"),
]


@pytest.mark.parametrize(("over", "regime", "fires", "strength"), MOM_CASES)
def test_regime_momentum(
    over: dict[str, float], regime: Regime, fires: bool, strength: float
) -> None:
    got = run("regime_momentum", {**MOM_BASE, **over}, regime)
    assert got[0] is fires
    assert got[1] == pytest.approx(strength, abs=1e-12)


def test_regime_momentum_percentile_is_among_eligible_symbols_only() -> None:
    # Ten eligible symbols with roc20 1..10 % and one ineligible with the highest roc20:
    # the 9th gets percentile exactly 9/10 = 0.90 and fires; the ineligible one neither
    # fires nor pushes the others' percentiles down.
    rows = [{**MOM_BASE, "roc20": k / 100} for k in range(1, 11)]
    rows.append({**MOM_BASE, "roc20": 0.5})
    data = StrategyInputs(
        symbols=tuple(f"S{i:02d}" for i in range(11)),
        eligible=np.array([True] * 10 + [False]),
        regime=Regime.TREND,
        **{
            k: np.array([r.get(k, v) for r in rows], dtype=float)
            for k, v in NEUTRAL.items()
            if k != "roc20_pct"
        },
    )
    assert data.roc20_pct[8] == 0.9
    assert np.isnan(data.roc20_pct[10])
    res = strategy_for("regime_momentum").evaluate(data, STRATEGY_PARAMS["regime_momentum"]())
    assert res.fires.tolist() == [False] * 8 + [True, True, False]
    assert res.strength[8] == 0.0
    assert res.strength[9] == pytest.approx(1.0)


# ------------------------------------------------------------------ common rules


@pytest.mark.parametrize(
    "name", ["rsi_reversion", "bb_squeeze", "adx_pullback", "overbought_short", "regime_momentum"]
)
def test_ineligible_symbols_never_fire(name: str) -> None:
    base = {
        "rsi_reversion": RSI_BASE,
        "bb_squeeze": BB_BASE,
        "adx_pullback": ADX_BASE,
        "overbought_short": OB_BASE,
        "regime_momentum": MOM_BASE,
    }[name]
    strat = strategy_for(name)
    data = inputs([base, base], Regime.TREND, eligible=[True, False])
    res = strat.evaluate(data, strat.params_type())
    assert res.fires.tolist() == [True, False]
    assert res.strength[1] == 0.0


@pytest.mark.parametrize(
    ("raw", "fires", "expected"),
    [
        pytest.param(-0.5, True, 0.0, id="negative-clipped-to-0"),
        pytest.param(0.25, True, 0.25, id="inside-unchanged"),
        pytest.param(1.5, True, 1.0, id="above-1-clipped-to-1"),
        pytest.param(0.7, False, 0.0, id="not-fired-strength-0"),
    ],
)
def test_strength_is_clipped_to_0_1(raw: float, fires: bool, expected: float) -> None:
    data = inputs([{}])
    check = Check("x", "x", "==", "y", 1.0, 1.0, np.array([fires]))
    res = finish("t", data, [check], np.array([raw]), "raw", [])
    assert res.fires[0] is np.bool_(fires)
    assert res.strength[0] == expected


SPEC_TABLE = [
    # name, side, group, sl, tp (trading rules §4), in the table's order.
    ("rsi_reversion", Side.LONG, Group.A, 1.5, 2.0),
    ("bb_squeeze", Side.LONG, Group.A, 2.5, 4.0),
    ("adx_pullback", Side.LONG, Group.B, 2.0, 3.0),
    ("overbought_short", Side.SHORT, Group.B, 2.0, 2.5),
    ("regime_momentum", Side.LONG, Group.B, 2.0, 3.5),
]


@pytest.mark.parametrize(
    ("name", "side", "group", "sl", "tp"), SPEC_TABLE, ids=[r[0] for r in SPEC_TABLE]
)
def test_defaults_match_spec_table(
    name: str, side: Side, group: Group, sl: float, tp: float
) -> None:
    p = strategy_for(name).params_type()
    assert (p.side, p.group, p.sl_atr, p.tp_atr) == (side, group, sl, tp)


def test_strategies_yaml_lists_the_spec_table_in_order_with_the_defaults() -> None:
    raw = yaml.safe_load((REPO / "config" / "strategies.yaml").read_text(encoding="utf-8"))
    assert list(raw) == [r[0] for r in SPEC_TABLE]
    built = build_strategies(raw)
    for name, p in built.items():
        assert p == type(p)(), f"{name}: strategies.yaml differs from the module defaults"


def test_registry() -> None:
    assert set(registered_strategies()) == {r[0] for r in SPEC_TABLE}
    with pytest.raises(UnknownStrategy, match="unknown strategy 'nope'"):
        strategy_for("nope")


def test_explanation_shows_each_value_against_its_threshold() -> None:
    strat = strategy_for("adx_pullback")
    data = inputs([ADX_BASE, {**ADX_BASE, "pdi": 15.0}])
    res = strat.evaluate(data, strat.params_type())
    assert [e.symbol for e in res.explain_fired()] == ["S00"]
    ex = res.explain(0)
    assert ex.fired and ex.strength == pytest.approx(0.2)
    first = ex.checks[0]
    assert (first.left, first.value, first.op, first.threshold, first.passed) == (
        "adx14",
        30.0,
        ">=",
        25.0,
        True,
    )
    assert ex.checks[1].label == "pdi > mdi"
    miss = res.explain(1)
    assert not miss.fired
    assert [(c.left, c.value, c.threshold) for c in miss.failed()] == [("pdi", 15.0, 15.0)]
    assert miss.as_dict()["checks"][1]["passed"] is False
    assert res.indicators(0)["ema20"] == 100.0


def test_regime_check_is_explained() -> None:
    strat = strategy_for("regime_momentum")
    res = strat.evaluate(inputs([MOM_BASE], Regime.RANGING), strat.params_type())
    c = res.explain(0).checks[0]
    assert (c.value, c.threshold, c.passed) == ("RANGING", "TREND", False)


def test_evaluate_all_skips_disabled_and_keeps_order() -> None:
    params = {name: STRATEGY_PARAMS[name]() for name, *_ in SPEC_TABLE}
    params["bb_squeeze"] = STRATEGY_PARAMS["bb_squeeze"](enabled=False)
    out = evaluate_all(inputs([RSI_BASE]), params)
    assert list(out) == ["rsi_reversion", "adx_pullback", "overbought_short", "regime_momentum"]
    assert out["rsi_reversion"].fires.tolist() == [True]


def test_inputs_with_wrong_shapes_are_refused() -> None:
    with pytest.raises(StrategyInputError, match="'rsi14' has shape"):
        StrategyInputs(
            symbols=("A", "B"),
            eligible=np.array([True, True]),
            regime=Regime.TREND,
            **{k: np.ones(1 if k == "rsi14" else 2) for k in NEUTRAL if k != "roc20_pct"},
        )


def test_from_arrays_ignores_extra_keys_and_names_missing_ones() -> None:
    today = {k: np.ones(3) for k in NEUTRAL if k not in ("prev_bw_pct", "roc20_pct")}
    today["bb_mid"] = np.ones(3)
    data = StrategyInputs.from_arrays(
        ("A", "B", "C"), today, np.zeros(3), np.array([True, True, False]), Regime.RANGING
    )
    assert data.dv20_pct.tolist()[:2] == [1.0, 1.0] and np.isnan(data.dv20_pct[2])
    del today["atr14"]
    with pytest.raises(StrategyInputError, match="missing: atr14"):
        StrategyInputs.from_arrays(
            ("A", "B", "C"), today, np.zeros(3), np.ones(3, bool), Regime.RANGING
        )
