"""What a strategy sees, what it returns, and how strategies are found by name.

A strategy is a pure, vectorised rule over all symbols at once: it gets one
:class:`StrategyInputs` (per-symbol ``(N,)`` arrays of today's indicator values,
yesterday's ``bw_pct``, the eligible mask, the percentiles and the regime) and
returns a :class:`StrategyResult` (which symbols fire, their strength, and the
vectorised checks behind that decision).

Explanations ("why was it picked") are built from the checks on demand, for the
few symbols the GUI asks about, so a scan never formats text for 500 symbols.

Adding a strategy: one module in ``workstation/signals/strategies/`` that defines
its parameter class (``@register_strategy``) and an ``evaluate`` function and calls
:func:`register_evaluator`, plus one block in ``config/strategies.yaml``.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from workstation.core.config import STRATEGY_PARAMS, StrategyParams
from workstation.core.models import Regime
from workstation.signals.ranking import percentile_rank

FloatArray = np.ndarray
BoolArray = np.ndarray

#: Per-symbol float inputs every strategy can use (today's values unless prefixed ``prev_``).
ARRAY_FIELDS: tuple[str, ...] = (
    "close",
    "rsi14",
    "bb_up",
    "bw_pct",
    "prev_bw_pct",
    "adx14",
    "pdi",
    "mdi",
    "atr14",
    "sma50",
    "sma200",
    "ema20",
    "roc20",
    "dv20",
)


class StrategyInputError(ValueError):
    """The arrays handed to the strategies do not fit together (a programming error)."""


@dataclass(frozen=True, eq=False)
class StrategyInputs:
    """One scan's per-symbol data, aligned with ``symbols``.

    ``roc20_pct`` and ``dv20_pct`` are the ``rank(pct=True, method="max")``
    percentiles of ``roc20`` and ``dv20`` among the eligible symbols (NaN for the
    others); left as ``None`` they are computed here.
    """

    symbols: tuple[str, ...]
    close: FloatArray
    rsi14: FloatArray
    bb_up: FloatArray
    bw_pct: FloatArray
    prev_bw_pct: FloatArray
    adx14: FloatArray
    pdi: FloatArray
    mdi: FloatArray
    atr14: FloatArray
    sma50: FloatArray
    sma200: FloatArray
    ema20: FloatArray
    roc20: FloatArray
    dv20: FloatArray
    eligible: BoolArray
    regime: Regime
    roc20_pct: FloatArray | None = None
    dv20_pct: FloatArray | None = None

    def __post_init__(self) -> None:
        n = len(self.symbols)
        object.__setattr__(self, "symbols", tuple(self.symbols))
        for name in ARRAY_FIELDS:
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != (n,):
                raise StrategyInputError(
                    f"strategy input '{name}' has shape {arr.shape}, expected ({n},) "
                    "(one value per symbol)"
                )
            object.__setattr__(self, name, arr)
        eligible = np.asarray(self.eligible, dtype=bool)
        if eligible.shape != (n,):
            raise StrategyInputError(f"eligible mask has shape {eligible.shape}, expected ({n},)")
        object.__setattr__(self, "eligible", eligible)
        object.__setattr__(self, "regime", Regime(self.regime))
        for name, source in (("roc20_pct", self.roc20), ("dv20_pct", self.dv20)):
            given = getattr(self, name)
            if given is None:
                pct = percentile_rank(source, eligible)
            else:
                pct = np.asarray(given, dtype=np.float64)
                if pct.shape != (n,):
                    raise StrategyInputError(
                        f"strategy input '{name}' has shape {pct.shape}, expected ({n},)"
                    )
            object.__setattr__(self, name, pct)

    @classmethod
    def from_arrays(
        cls,
        symbols: Sequence[str],
        today: Mapping[str, np.ndarray],
        prev_bw_pct: np.ndarray,
        eligible: np.ndarray,
        regime: Regime,
    ) -> StrategyInputs:
        """Build from a mapping of today's arrays (extra keys are ignored)."""
        missing = [f for f in ARRAY_FIELDS if f != "prev_bw_pct" and f not in today]
        if missing:
            raise StrategyInputError(f"strategy inputs missing: {', '.join(missing)}")
        arrays = {f: today[f] for f in ARRAY_FIELDS if f != "prev_bw_pct"}
        return cls(
            symbols=tuple(symbols),
            prev_bw_pct=prev_bw_pct,
            eligible=eligible,
            regime=regime,
            **arrays,
        )

    @property
    def n(self) -> int:
        return len(self.symbols)

    def value(self, name: str, i: int) -> float:
        """The float value of input ``name`` for symbol index ``i``."""
        return float(getattr(self, name)[i])


# ------------------------------------------------------------------------ checks

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
}


@dataclass(frozen=True, eq=False)
class Check:
    """One condition of a rule, evaluated for every symbol.

    ``value`` is the left-hand quantity (named ``left``), ``threshold`` the
    right-hand one (named ``right``: a parameter or another indicator); both are
    arrays or scalars. ``passed`` is the vectorised outcome.
    """

    label: str
    left: str
    op: str
    right: str
    value: Any
    threshold: Any
    passed: Any

    def outcome(self, i: int) -> CheckOutcome:
        return CheckOutcome(
            label=self.label,
            left=self.left,
            value=_scalar(self.value, i),
            op=self.op,
            right=self.right,
            threshold=_scalar(self.threshold, i),
            passed=bool(_scalar(self.passed, i)),
        )


def compare(
    left: str, value: Any, op: str, right: str, threshold: Any, label: str | None = None
) -> Check:
    """A :class:`Check` of ``value <op> threshold`` exactly as written (NaN never passes)."""
    passed = _OPS[op](value, threshold)
    if label is None:
        shown = _fmt(threshold) if isinstance(threshold, (int, float)) else right
        label = f"{left} {op} {shown}"
    return Check(label, left, op, right, value, threshold, passed)


def _scalar(x: Any, i: int) -> Any:
    if isinstance(x, np.ndarray) and x.ndim == 1:
        x = x[i]
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.floating | np.integer):
        return float(x)
    return x


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class CheckOutcome:
    """One condition for one symbol: the value, the threshold, pass or fail."""

    label: str
    left: str
    value: float | str
    op: str
    right: str
    threshold: float | str
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {k: _json_safe(v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class Explanation:
    """Why a strategy did (or did not) fire for one symbol."""

    strategy: str
    symbol: str
    fired: bool
    eligible: bool
    checks: tuple[CheckOutcome, ...]
    strength: float
    strength_formula: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "symbol": self.symbol,
            "fired": self.fired,
            "eligible": self.eligible,
            "checks": [c.as_dict() for c in self.checks],
            "strength": _json_safe(self.strength),
            "strength_formula": self.strength_formula,
        }

    def failed(self) -> tuple[CheckOutcome, ...]:
        return tuple(c for c in self.checks if not c.passed)


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# ------------------------------------------------------------------------ result


@dataclass(frozen=True, eq=False)
class StrategyResult:
    """A strategy's verdict for every symbol.

    ``fires``: eligible and every check passed. ``strength``: the rule's strength
    clipped to 0..1 where it fires, 0.0 elsewhere. ``uses``: the input fields the
    rule reads (the "indicator values used" recorded with a candidate).
    """

    name: str
    data: StrategyInputs
    fires: BoolArray
    strength: FloatArray
    checks: tuple[Check, ...]
    strength_formula: str
    uses: tuple[str, ...]

    @property
    def fired_indices(self) -> np.ndarray:
        return np.flatnonzero(self.fires)

    def explain(self, i: int) -> Explanation:
        """The conditions for symbol index ``i``, each value against its threshold."""
        return Explanation(
            strategy=self.name,
            symbol=self.data.symbols[i],
            fired=bool(self.fires[i]),
            eligible=bool(self.data.eligible[i]),
            checks=tuple(c.outcome(i) for c in self.checks),
            strength=float(self.strength[i]),
            strength_formula=self.strength_formula,
        )

    def explain_fired(self) -> Iterator[Explanation]:
        """Explanations for the fired symbols only (lazily)."""
        return (self.explain(int(i)) for i in self.fired_indices)

    def indicators(self, i: int) -> dict[str, float]:
        """The input values the rule used for symbol index ``i``."""
        return {name: self.data.value(name, i) for name in self.uses}


def finish(
    name: str,
    data: StrategyInputs,
    checks: Sequence[Check],
    raw_strength: np.ndarray,
    strength_formula: str,
    uses: Sequence[str],
) -> StrategyResult:
    """Combine the checks with the eligible mask and clip the strength to 0..1."""
    fires = data.eligible.copy()
    for c in checks:
        fires &= np.broadcast_to(np.asarray(c.passed, dtype=bool), fires.shape)
    strength = np.where(fires, np.clip(raw_strength, 0.0, 1.0), 0.0)
    return StrategyResult(
        name=name,
        data=data,
        fires=fires,
        strength=strength,
        checks=tuple(checks),
        strength_formula=strength_formula,
        uses=tuple(uses),
    )


# ---------------------------------------------------------------------- registry


class Strategy(Protocol):
    """What the scanner needs of a strategy."""

    @property
    def name(self) -> str: ...

    @property
    def params_type(self) -> type[StrategyParams]: ...

    def evaluate(self, data: StrategyInputs, p: Any) -> StrategyResult: ...


@dataclass(frozen=True)
class RegisteredStrategy:
    name: str
    params_type: type[StrategyParams]
    evaluate: Callable[[StrategyInputs, Any], StrategyResult]


_EVALUATORS: dict[str, RegisteredStrategy] = {}


class UnknownStrategy(KeyError):
    """No strategy module registered this name."""

    def __str__(self) -> str:
        return str(self.args[0])


def register_evaluator(
    name: str, evaluate: Callable[[StrategyInputs, Any], StrategyResult]
) -> None:
    """Called by each strategy module after ``@register_strategy(name)`` on its params."""
    params_type = STRATEGY_PARAMS.get(name)
    if params_type is None:
        raise UnknownStrategy(f"strategy '{name}' has no registered parameter class")
    _EVALUATORS[name] = RegisteredStrategy(name, params_type, evaluate)


def _load_all() -> None:
    importlib.import_module("workstation.signals.strategies")


def strategy_for(name: str) -> Strategy:
    """The strategy registered as ``name`` (raises :class:`UnknownStrategy`)."""
    _load_all()
    try:
        return _EVALUATORS[name]
    except KeyError:
        known = ", ".join(sorted(_EVALUATORS)) or "none"
        raise UnknownStrategy(f"unknown strategy '{name}' (known: {known})") from None


def registered_strategies() -> tuple[str, ...]:
    _load_all()
    return tuple(sorted(_EVALUATORS))


def evaluate_all(
    data: StrategyInputs, params: Mapping[str, StrategyParams]
) -> dict[str, StrategyResult]:
    """Run every enabled strategy of ``params`` (in its order, the tie-break order)."""
    out: dict[str, StrategyResult] = {}
    for name, p in params.items():
        if p.enabled:
            out[name] = strategy_for(name).evaluate(data, p)
    return out
