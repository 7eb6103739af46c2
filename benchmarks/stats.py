"""The statistics of a trustworthy ratio: calibrated samples, bootstrap intervals, verdicts.

Pure functions, no timing: the measuring loop in ``benchmarks.measure``
calls them, and the tests check them on numbers worked out by hand.

* :func:`calibrate_loops`: how many calls one sample holds, so that a
  sample lasts long enough to dwarf the timer's resolution and the
  dispatch noise of a single call (pyperf's calibrated loops).
* :func:`paired_ratio` and :func:`ratio_ci`: two entries timed in the same
  interleaved rounds give one ratio per round; the ratio reported is the
  median of those, and its 95% interval is a percentile bootstrap over the
  rounds (criterion's bootstrap confidence intervals).
* :func:`widen`: an interval widened by the run's noise floor, what two
  copies of the same program measure against each other.
* :func:`verdict`: what a row says once its interval is known.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from jax.typing import ArrayLike

#: The confidence level of every interval.
CONFIDENCE = 0.95
#: A ratio is settled when its interval lies within this fraction of it on both sides.
TOLERANCE = 0.03
#: Bootstrap resamples for the reported intervals.
RESAMPLES = 2000
#: The fewest rounds an interval is trusted from (see :func:`is_settled`).
MIN_ROUNDS = 20

FASTER = "faster"
SLOWER = "slower"
NO_DIFFERENCE = "no measurable difference"
NOISY = "noisy"
VERDICTS: tuple[str, ...] = (FASTER, NO_DIFFERENCE, SLOWER, NOISY)
#: The verdict field of the baseline's own row: it is what the others are compared with.
BASELINE = "baseline"
#: The verdict field of the noise floor's row: jax.grad against itself is a resolution,
#: not a comparison.
FLOOR = "noise floor"
#: What the verdict field holds where it is not a verdict.
NOT_VERDICTS: tuple[str, ...] = (NOISY, BASELINE, FLOOR)


def calibrate_loops(
    time_loops: Callable[[int], float],
    *,
    min_sample_s: float,
    start: int = 1,
    max_loops: int = 1 << 16,
    trials: int = 3,
) -> int:
    """The fewest calls per sample, a power of two, for a sample of ``min_sample_s``.

    Doubles the loop count until a sample of that many calls lasts at least
    ``min_sample_s``. Each count is tried ``trials`` times and the fastest
    try decides, so a slow spell of the machine during calibration does not
    leave a fast call with too few loops.

    Args:
      time_loops: loops -> the seconds that many calls took, in total.
      min_sample_s: the shortest acceptable sample.
      start: the first loop count tried (a power of two, at most the answer).
      max_loops: the most calls per sample.
      trials: tries per loop count.

    Returns:
      The loop count, between ``start`` and ``max_loops``.
    """
    loops = start
    while loops < max_loops and min(time_loops(loops) for _ in range(trials)) < min_sample_s:
        loops *= 2
    return min(loops, max_loops)


def first_loops(call_s: float, min_sample_s: float) -> int:
    """A first loop count for :func:`calibrate_loops`, from one call's time.

    A power of two at most a quarter of the calls a sample of
    ``min_sample_s`` needs at ``call_s`` seconds a call, so that one slow
    or fast first timing cannot make calibration overshoot.

    Args:
      call_s: the seconds one call took.
      min_sample_s: the shortest acceptable sample.

    Returns:
      The loop count to start from, at least 1.
    """
    wanted = min_sample_s / max(call_s, 1e-9) / 4
    return 1 << max(0, int(np.floor(np.log2(wanted)))) if wanted >= 1 else 1


def round_ratios(samples: ArrayLike, baseline: ArrayLike) -> np.ndarray:
    """The ratio of two entries' samples in every round both were timed in.

    Args:
      samples: one entry's seconds per call, round by round.
      baseline: the other entry's, in the same rounds; it may go on for
        more rounds (an entry that has settled stops being timed).

    Returns:
      ``samples[i] / baseline[i]`` for the rounds they share.
    """
    a, b = np.asarray(samples, float), np.asarray(baseline, float)
    n = min(len(a), len(b))
    return a[:n] / b[:n]


def paired_ratio(samples: ArrayLike, baseline: ArrayLike) -> float:
    """The median over shared rounds of ``samples / baseline``: the ratio reported."""
    return float(np.median(round_ratios(samples, baseline)))


def ratio_ci(
    samples: ArrayLike,
    baseline: ArrayLike,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """The percentile bootstrap interval of :func:`paired_ratio`.

    The rounds are resampled with replacement, ``resamples`` times; the
    median of each resample's ratios is one bootstrap value, and the
    interval is the central ``confidence`` of those values.

    Args:
      samples: one entry's seconds per call, round by round.
      baseline: the other entry's, in the same rounds.
      confidence: the interval's coverage, e.g. 0.95.
      resamples: bootstrap resamples.
      seed: seeds the resampling, so an interval is reproducible.

    Returns:
      (low, high).
    """
    ratios = round_ratios(samples, baseline)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(ratios), size=(resamples, len(ratios)))
    medians = np.median(ratios[picks], axis=1)
    tail = 50 * (1 - confidence)
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(low), float(high)


def is_settled(
    ratio: float,
    ci: Sequence[float],
    rounds: int,
    *,
    tolerance: float = TOLERANCE,
    min_rounds: int = MIN_ROUNDS,
) -> bool:
    """True when the interval lies within ``tolerance`` of the ratio on both sides.

    An interval from fewer than ``min_rounds`` rounds never counts: the
    bootstrap of a median of a handful of values has only a few distinct
    values to draw from, and its interval comes out too narrow; checked
    again and again as the rounds come in, it would settle entries by luck.

    Args:
      ratio: the paired ratio.
      ci: its interval, (low, high).
      rounds: the rounds it was computed from.
      tolerance: the largest relative distance of either end from the ratio.
      min_rounds: the fewest rounds an interval is trusted from.

    Returns:
      Whether the ratio has settled.
    """
    low, high = ci
    within = high <= ratio * (1 + tolerance) and low >= ratio * (1 - tolerance)
    return within and rounds >= min_rounds


def floor_margin(floor_ci: Sequence[float]) -> float:
    """How far from 1 two identical programs measured against each other.

    Args:
      floor_ci: the interval of jax.grad's second copy against jax.grad.

    Returns:
      The log of the end of that interval farther from 1.
    """
    low, high = floor_ci
    return float(max(abs(np.log(low)), abs(np.log(high))))


def widen(ci: Sequence[float], floor_ci: Sequence[float]) -> tuple[float, float]:
    """An interval widened on both sides by the noise floor of the same run.

    Two copies of the same program, compiled apart and timed side by side,
    need not run at the same speed (where XLA places their code and buffers
    differs), and the ratio of any entry to jax.grad carries that too. A
    difference no larger than what identical programs show is not claimed:
    both ends move out by the factor :func:`floor_margin` gives.

    Args:
      ci: an interval of a ratio to jax.grad, (low, high).
      floor_ci: the interval of jax.grad's second copy against jax.grad.

    Returns:
      (low / f, high * f), f = exp(floor_margin(floor_ci)).
    """
    factor = float(np.exp(floor_margin(floor_ci)))
    return ci[0] / factor, ci[1] * factor


def verdict(ci: Sequence[float], *, settled: bool) -> str:
    """What a row says about an entry against its baseline.

    Args:
      ci: the interval of the ratio entry / baseline.
      settled: whether the interval got within the tolerance before the
        entry's time budget ended.

    Returns:
      "noisy" when it did not (no verdict); otherwise "no measurable
      difference" when the interval contains 1, "faster" when it lies
      below 1, "slower" when above.
    """
    low, high = ci
    if not settled:
        return NOISY
    if low <= 1 <= high:
        return NO_DIFFERENCE
    return FASTER if high < 1 else SLOWER


def spread(values: Sequence[float]) -> float:
    """The largest value over the smallest: how far repeated measurements disagree."""
    return float(max(values) / min(values))
