"""The risk-adjusted CUSUM chart of Steiner, Cook, Farewell & Treasure (2000).

Patients are taken in the order of their operation. Each has a predicted risk ``p_t`` of the
adverse outcome (from the registry's risk model) and an outcome ``y_t`` (1 = it happened). The
chart tests, patient by patient, the null hypothesis that the unit's odds of the outcome are
the model's (odds ratio 1) against the alternative that they are ``R_A`` times the model's.

* Weights (Steiner et al. 2000, §2, the log-likelihood ratio of one patient): under odds ratio
  ``R`` the risk is ``R p / (1 - p + R p)``, so the log-likelihood ratio of ``R_A`` against 1 is

      W_t = y_t log(R_A) - log(1 - p_t + R_A p_t).

  A bad outcome adds ``log(R_A) - log(1 - p + R_A p)``; a good one subtracts
  ``log(1 - p + R_A p)``. High-risk patients therefore count less against the unit when they
  have the outcome and more in its favour when they do not.
* Chart (§2): ``X_0 = 0``, ``X_t = max(0, X_{t-1} + W_t)``; it signals when it reaches the
  control limit ``h`` (here ``X_t >= h``) and then starts again from 0.
* ``R_A > 1`` (Steiner et al. use 2: the odds doubled) looks for deterioration; ``R_A < 1``
  (they use 1/2: the odds halved) looks for improvement. The same functions serve both: with
  ``R_A < 1`` a good outcome adds to the chart and a bad one subtracts.
* Control limit (§3): ``h`` is chosen so that the in-control average run length (ARL, the
  number of patients until a false signal when the unit is exactly as the model predicts) is
  the one asked for. The ARL is computed as Steiner et al. do, by the Markov-chain
  approximation of Brook & Evans (1972): the chart's values in ``[0, h)`` are discretised into
  ``M`` states, the transition probabilities are averaged over the distribution of patient
  risks (here the empirical distribution of a sample of risks), and the expected number of
  steps to absorption beyond ``h`` is the solution of ``(I - Q) L = 1``. ``h`` is found by
  bracketing and bisection with regula-falsi steps (the ARL grows with ``h``).

References
----------
Steiner SH, Cook RJ, Farewell VT, Treasure T. Monitoring surgical performance using
risk-adjusted cumulative sum charts. Biostatistics 2000;1(4):441-452.

Brook D, Evans DA. An approach to the probability distribution of CUSUM run length.
Biometrika 1972;59(3):539-549.

Examples
--------
>>> import numpy as np
>>> path = run_cusum(np.array([1, 1, 0, 1]), np.array([0.1, 0.1, 0.1, 0.1]), odds_ratio=2.0, h=1.0)
>>> path.values.round(4).tolist(), path.alarms.tolist()
([0.5978, 1.1957, 0.0, 0.5978], [1])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from spinetrack.errors import ValidationError
from spinetrack.stats._common import to_jsonable

__all__ = [
    "ControlLimit",
    "CusumPath",
    "average_run_length",
    "control_limit",
    "cusum_weights",
    "run_cusum",
    "simulate_run_lengths",
]

_DEFAULT_STATES = 400


# --- validation -------------------------------------------------------------------------------


def _check_odds_ratio(odds_ratio: Any, field: str = "odds_ratio") -> float:
    allowed = "a positive finite odds ratio other than 1 (e.g. 2 for deterioration, 0.5 for improvement)"
    if isinstance(odds_ratio, bool) or not isinstance(odds_ratio, (int, float, np.integer, np.floating)):
        raise ValidationError(field=field, value=odds_ratio, allowed=allowed)
    r = float(odds_ratio)
    if not math.isfinite(r) or r <= 0.0 or r == 1.0:
        raise ValidationError(field=field, value=odds_ratio, allowed=allowed)
    return r


def _check_positive(field: str, value: Any, allowed: str, *, above: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValidationError(field=field, value=value, allowed=allowed)
    x = float(value)
    if not math.isfinite(x) or x <= above:
        raise ValidationError(field=field, value=value, allowed=allowed)
    return x


def _shown(value: Any) -> Any:
    return value if np.ndim(value) == 0 else f"array of {np.size(value)} values"


def _check_risks(field: str, p: Any) -> np.ndarray:
    allowed = "predicted risks strictly between 0 and 1"
    try:
        arr = np.array(p, dtype=float).reshape(-1) if np.ndim(p) <= 1 else None
    except (TypeError, ValueError):
        arr = None
    if arr is None or not np.all(np.isfinite(arr)) or np.any(arr <= 0.0) or np.any(arr >= 1.0):
        raise ValidationError(field=field, value=_shown(p), allowed=allowed)
    return arr


def _check_outcomes(y: Any, n: int) -> np.ndarray:
    allowed = f"outcomes 0 or 1, one per risk ({n})"
    try:
        arr = np.array(y, dtype=float).reshape(-1) if np.ndim(y) <= 1 else None
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.size != n or not np.all((arr == 0.0) | (arr == 1.0)):
        raise ValidationError(field="y", value=_shown(y), allowed=allowed)
    return arr


# --- the chart --------------------------------------------------------------------------------


def cusum_weights(y: np.ndarray, p: np.ndarray, odds_ratio: float) -> np.ndarray:
    """Each patient's log-likelihood-ratio score ``W_t = y_t log(R_A) - log(1 - p_t + R_A p_t)``
    for odds ratio ``R_A`` against 1 (Steiner et al. 2000, §2).

    Parameters
    ----------
    y:
        Outcomes, 0 or 1.
    p:
        Predicted risks under the model, strictly between 0 and 1.
    odds_ratio:
        ``R_A``: > 1 to detect deterioration, < 1 to detect improvement.

    Examples
    --------
    >>> cusum_weights(np.array([1, 0]), np.array([0.2, 0.2]), 2.0).round(6).tolist()
    [0.510826, -0.182322]
    """
    pp = _check_risks("p", p)
    yy = _check_outcomes(y, pp.size)
    r = _check_odds_ratio(odds_ratio)
    return np.asarray(yy * math.log(r) - np.log1p((r - 1.0) * pp))


@dataclass(frozen=True, eq=False)
class CusumPath:
    """A risk-adjusted CUSUM chart over a sequence of patients.

    Attributes
    ----------
    values : numpy.ndarray
        ``X_t`` after each patient. At a signal the value that reached ``h`` is kept (so a plot
        shows the crossing); with ``reset`` the next patient starts from 0.
    alarms : numpy.ndarray
        0-based indices of the patients at whom the chart reached ``h`` (with ``reset=False``:
        where it went from below ``h`` to ``h`` or above).
    weights : numpy.ndarray
        The scores ``W_t``.
    h : float
        The control limit.
    odds_ratio : float
        ``R_A``.
    reset : bool
        Whether the chart restarted from 0 after each signal.
    """

    values: np.ndarray
    alarms: np.ndarray
    weights: np.ndarray
    h: float
    odds_ratio: float
    reset: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping."""
        return dict(to_jsonable(dict(self.__dict__)))


def run_cusum(y: np.ndarray, p: np.ndarray, *, odds_ratio: float, h: float, reset: bool = True) -> CusumPath:
    """Run the chart ``X_t = max(0, X_{t-1} + W_t)`` and record where it reaches ``h``
    (Steiner et al. 2000, §2).

    Parameters
    ----------
    y, p:
        Outcomes (0/1) and predicted risks, in the order of the operations.
    odds_ratio:
        ``R_A`` of :func:`cusum_weights`.
    h:
        Control limit (> 0), e.g. from :func:`control_limit`.
    reset:
        Start again from 0 after each signal (default), as after an investigation.

    Returns
    -------
    CusumPath

    Examples
    --------
    >>> path = run_cusum(np.array([0, 0, 1]), np.array([0.5, 0.5, 0.5]), odds_ratio=0.5, h=0.5)
    >>> path.values.round(4).tolist(), path.alarms.tolist()
    ([0.2877, 0.5754, 0.0], [1])
    """
    w = cusum_weights(y, p, odds_ratio)
    limit = _check_positive("h", h, "a positive finite control limit")
    values = np.empty(w.size)
    alarms: list[int] = []
    x = 0.0
    above = False
    for t, wt in enumerate(w.tolist()):
        x = max(0.0, x + wt)
        values[t] = x
        if x >= limit:
            if reset:
                alarms.append(t)
                x = 0.0
            elif not above:
                alarms.append(t)
            above = True
        else:
            above = False
    return CusumPath(values=values, alarms=np.array(alarms, dtype=np.int64), weights=w, h=limit,
                     odds_ratio=float(odds_ratio), reset=bool(reset))


# --- run length and control limit -------------------------------------------------------------


def _risk_distribution(p_sample: np.ndarray, odds_ratio: float, true_odds_ratio: float,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The step sizes and their probabilities per patient drawn from the sample: sorted weights
    for a bad outcome (``w1``) and a good one (``w0``) with the cumulative probability of each
    below a value (prepended with 0), when patients' outcomes follow odds ratio ``true_odds_ratio``
    relative to the model."""
    log_denominator = np.log1p((odds_ratio - 1.0) * p_sample)
    w1 = math.log(odds_ratio) - log_denominator
    w0 = -log_denominator
    p_true = true_odds_ratio * p_sample / (1.0 - p_sample + true_odds_ratio * p_sample)
    k = p_sample.size
    order1 = np.argsort(w1, kind="stable")
    order0 = np.argsort(w0, kind="stable")
    cum1 = np.concatenate(([0.0], np.cumsum(p_true[order1] / k)))
    cum0 = np.concatenate(([0.0], np.cumsum((1.0 - p_true[order0]) / k)))
    return w1[order1], cum1, w0[order0], cum0


def _arl_markov(h: float, dist: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], n_states: int) -> float:
    """ARL from 0 by the Markov chain of Brook & Evans (1972).

    State ``j`` (0 <= j < M) stands for chart values in ``[(j - 1/2) d, (j + 1/2) d)`` with
    ``d = h / (M - 1/2)`` (state 0 also holds the chart at exactly 0, its restart value), and
    the chart moves from state ``i``, taken at its centre ``i d``, to ``max(0, i d + W)``;
    values ``>= h`` are the absorbing "signal" state. ``Q[i, j]`` is the probability of landing
    in state ``j``, averaged over the patients' risks; ``L = (I - Q)^-1 1`` and the ARL is
    ``L[0]``.
    """
    w1, cum1, w0, cum0 = dist
    d = h / (n_states - 0.5)
    centres = np.arange(n_states) * d
    upper_edges = (np.arange(n_states) + 0.5) * d
    upper_edges[-1] = h
    thresholds = upper_edges[None, :] - centres[:, None]  # W below this lands at or below state j
    below = cum1[np.searchsorted(w1, thresholds, side="left")] + cum0[np.searchsorted(w0, thresholds, side="left")]
    q = np.diff(below, axis=1, prepend=0.0)
    lengths = np.linalg.solve(np.eye(n_states) - q, np.ones(n_states))
    return float(lengths[0])


def _prepare(p_sample: Any, odds_ratio: Any, n_states: Any) -> tuple[np.ndarray, float, int]:
    p = _check_risks("p_sample", p_sample)
    if p.size == 0:
        raise ValidationError(field="p_sample", value="no risks", allowed="at least one predicted risk")
    r = _check_odds_ratio(odds_ratio)
    if isinstance(n_states, bool) or not isinstance(n_states, (int, np.integer)) or not 20 <= n_states <= 5000:
        raise ValidationError(field="n_states", value=n_states, allowed="a whole number from 20 to 5000")
    return p, r, int(n_states)


def average_run_length(h: float, p_sample: np.ndarray, *, odds_ratio: float, n_states: int = _DEFAULT_STATES,
                       true_odds_ratio: float = 1.0) -> float:
    """Average number of patients until the chart first reaches ``h``, starting from 0, for
    patients whose risks are drawn from ``p_sample`` (Markov-chain approximation, Brook & Evans
    1972, as in Steiner et al. 2000, §3).

    Parameters
    ----------
    h:
        Control limit (> 0).
    p_sample:
        Predicted risks representing the patient mix (each equally likely).
    odds_ratio:
        ``R_A`` of the chart.
    n_states:
        Number of discretisation states ``M`` (20 to 5000); 400 by default.
    true_odds_ratio:
        The odds ratio the outcomes actually follow: 1 (default) gives the in-control ARL,
        ``odds_ratio`` the out-of-control ARL (how soon a change of that size is detected).

    Examples
    --------
    >>> risks = np.linspace(0.02, 0.2, 10)
    >>> round(average_run_length(2.0, risks, odds_ratio=2.0))  # simulated: 239.1 (s.e. 1.6)
    240
    >>> round(average_run_length(2.0, risks, odds_ratio=2.0, true_odds_ratio=2.0))  # odds doubled
    45
    """
    p, r, m = _prepare(p_sample, odds_ratio, n_states)
    limit = _check_positive("h", h, "a positive finite control limit")
    true_r = _check_positive("true_odds_ratio", true_odds_ratio, "a positive finite odds ratio")
    return _arl_markov(limit, _risk_distribution(p, r, true_r), m)


@dataclass(frozen=True)
class ControlLimit:
    """The control limit ``h`` for a stated in-control average run length.

    Attributes
    ----------
    h : float
        The control limit.
    arl0_achieved : float
        The in-control ARL at ``h`` by the Markov-chain approximation.
    method : str
        How it was found, in words.
    arl0 : float
        The in-control ARL asked for.
    odds_ratio : float
        ``R_A`` of the chart.
    n_states : int
        The number of Markov-chain states.
    """

    h: float
    arl0_achieved: float
    method: str
    arl0: float = math.nan
    odds_ratio: float = math.nan
    n_states: int = _DEFAULT_STATES

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping."""
        return dict(to_jsonable(dict(self.__dict__)))


def control_limit(p_sample: np.ndarray, *, odds_ratio: float, arl0: float, n_states: int = _DEFAULT_STATES,
                  h_max: float = 100.0, rtol: float = 1e-3) -> ControlLimit:
    """The control limit ``h`` whose in-control average run length is ``arl0`` for patients
    whose risks are drawn from ``p_sample`` (Steiner et al. 2000, §3: Markov-chain ARL, Brook &
    Evans 1972), found by bracketing ``h`` and narrowing the bracket (bisection with
    regula-falsi steps on log ARL).

    Parameters
    ----------
    p_sample:
        Predicted risks representing the unit's patient mix (e.g. the registry's risks).
    odds_ratio:
        ``R_A`` of the chart (> 1 deterioration, < 1 improvement).
    arl0:
        The in-control ARL wanted, in patients (> 1).
    n_states:
        Markov-chain states (20 to 5000).
    h_max:
        Largest ``h`` tried; an ``arl0`` that needs more is refused.
    rtol:
        Stop when the chain's ARL at ``h`` is within ``rtol`` (relative) of ``arl0``.

    Returns
    -------
    ControlLimit

    Examples
    --------
    >>> limit = control_limit(np.linspace(0.02, 0.2, 10), odds_ratio=2.0, arl0=240.0)
    >>> round(limit.h, 2), round(limit.arl0_achieved)
    (2.0, 240)
    """
    p, r, m = _prepare(p_sample, odds_ratio, n_states)
    target = _check_positive("arl0", arl0, "an average run length in patients, greater than 1", above=1.0)
    ceiling = _check_positive("h_max", h_max, "a positive finite control limit")
    tol = _check_positive("rtol", rtol, "a small positive tolerance")
    dist = _risk_distribution(p, r, 1.0)
    lo, hi = 0.0, min(1.0, ceiling)
    arl_hi = _arl_markov(hi, dist, m)
    while arl_hi < target:
        if hi >= ceiling:
            raise ValidationError(field="arl0", value=arl0,
                                  allowed=f"an in-control run length reachable with h <= {ceiling:g} "
                                          f"(h = {ceiling:g} gives {arl_hi:.0f})")
        lo, hi = hi, min(2.0 * hi, ceiling)
        arl_hi = _arl_markov(hi, dist, m)
    # Regula falsi on log ARL, which is close to linear in h, so that a few chain solutions
    # suffice; the discretised ARL moves in small jumps as h changes, so a step that does not at
    # least halve the bracket is followed by a bisection step.
    log_target = math.log(target)
    g_lo, g_hi = -log_target, math.log(arl_hi) - log_target  # ARL(0) = 1: the chart signals at once
    arl_lo, bisect = 1.0, False
    while hi - lo > 1e-5 * hi and min(-g_lo, g_hi) > math.log1p(tol):
        width = hi - lo
        mid = 0.5 * (lo + hi) if bisect else hi - g_hi * (hi - lo) / (g_hi - g_lo)
        if not lo < mid < hi:
            mid = 0.5 * (lo + hi)
        arl_mid = _arl_markov(mid, dist, m)
        g_mid = math.log(arl_mid) - log_target
        if g_mid < 0.0:
            lo, g_lo, arl_lo = mid, g_mid, arl_mid
        else:
            hi, g_hi, arl_hi = mid, g_mid, arl_mid
        bisect = hi - lo > 0.5 * width
    h, achieved = (lo, arl_lo) if abs(arl_lo - target) < abs(arl_hi - target) and lo > 0 else (hi, arl_hi)
    method = (f"Markov-chain ARL (Brook & Evans 1972) with {m} states over {p.size} patient risks, "
              f"h found by regula falsi and bisection (Steiner et al. 2000)")
    return ControlLimit(h=h, arl0_achieved=achieved, method=method, arl0=target, odds_ratio=r, n_states=m)


def simulate_run_lengths(p_sample: np.ndarray, *, odds_ratio: float, h: float, n_runs: int,
                         rng: np.random.Generator, true_odds_ratio: float = 1.0,
                         max_length: int = 10_000_000) -> np.ndarray:
    """Run lengths of ``n_runs`` simulated charts (a check on :func:`average_run_length`): each
    patient's risk is drawn from ``p_sample`` with replacement, the outcome from it (at odds
    ratio ``true_odds_ratio`` to the model), and each chart runs from 0 until it reaches ``h``.
    The charts run side by side, one vectorised step per patient.

    Examples
    --------
    >>> runs = simulate_run_lengths(np.full(10, 0.1), odds_ratio=2.0, h=2.0, n_runs=200,
    ...                             rng=np.random.default_rng(1))
    >>> runs.shape, bool(runs.min() >= 1)
    ((200,), True)
    """
    p = _check_risks("p_sample", p_sample)
    r = _check_odds_ratio(odds_ratio)
    limit = _check_positive("h", h, "a positive finite control limit")
    true_r = _check_positive("true_odds_ratio", true_odds_ratio, "a positive finite odds ratio")
    if isinstance(n_runs, bool) or not isinstance(n_runs, (int, np.integer)) or n_runs < 1:
        raise ValidationError(field="n_runs", value=n_runs, allowed="a whole number >= 1")
    x = np.zeros(n_runs)
    lengths = np.zeros(n_runs, dtype=np.int64)
    active = np.arange(n_runs)
    log_r = math.log(r)
    t = 0
    while active.size and t < max_length:
        t += 1
        risk = p[rng.integers(0, p.size, size=active.size)]
        p_true = true_r * risk / (1.0 - risk + true_r * risk)
        y = rng.random(active.size) < p_true
        x[active] = np.maximum(0.0, x[active] + y * log_r - np.log1p((r - 1.0) * risk))
        done = x[active] >= limit
        lengths[active[done]] = t
        active = active[~done]
    lengths[active] = max_length
    return lengths
