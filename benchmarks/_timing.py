"""Compiling, warming up and timing jitted functions, fairly.

* Compile time is ``jax.jit(f).lower(*args).compile()``, timed once; the
  compiled executable is what is then called, for every entry alike.
* Warm-up calls are not timed.
* Repetitions are interleaved: every round times each entry once, so that
  a slow spell of the machine falls on every entry instead of on one. Each
  round takes the entries in a fresh (seeded) random order, so no entry
  always follows the same one: one timed right after a large program finds
  the caches cold.
* Every call is followed by ``jax.block_until_ready`` on its whole output.
* A call shorter than ``min_sample_s`` is repeated ``inner`` times within
  one sample (each call still blocked on), so the timer's resolution and
  the loop's own overhead do not dominate; a sample is the mean of those.
* The median over the repetitions is reported, with the quartiles. Samples
  of one round were taken moments apart, so the median over rounds of the
  ratio of two entries' samples (a paired ratio) is also available: it
  cancels a slow spell that lasts longer than a round.
* The same program compiled twice can run at different speeds for the
  whole life of the process (where XLA's buffers and code land in memory):
  on the reference machine one executable in a few ran 1.2x slower than
  its twin. So an entry can be compiled several times and the copies
  timed in the same rounds; :func:`merge_copies` takes, in every round,
  the median over the copies, so one unlucky copy does not decide.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

import jax
import numpy as np

K = TypeVar("K", bound=Hashable)


@dataclasses.dataclass(frozen=True)
class Compiled:
    """An executable with what XLA says about it.

    Attributes:
      executable: the compiled program, called with the entry's arguments.
      lower_s: seconds to trace and lower to StableHLO.
      compile_s: seconds for XLA to compile (after lowering).
      memory: XLA's ``memory_analysis()`` in bytes, None where unavailable.
    """

    executable: jax.stages.Compiled
    lower_s: float
    compile_s: float
    memory: dict[str, int] | None


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds per call over ``reps`` interleaved samples of ``inner`` calls.

    ``samples_s[i]`` was taken in round i, so two entries' samples with the
    same index were taken moments apart.
    """

    median_s: float
    min_s: float
    q1_s: float
    q3_s: float
    reps: int
    inner: int
    samples_s: tuple[float, ...]


def compile_fn(fn: Callable[..., object], args: tuple) -> Compiled:
    """Lowers and compiles ``jax.jit(fn)`` for ``args``, timing both steps."""
    start = time.perf_counter()
    lowered = jax.jit(fn).lower(*args)
    lowered_at = time.perf_counter()
    executable = lowered.compile()
    done = time.perf_counter()
    return Compiled(executable, lowered_at - start, done - lowered_at, memory_of(executable))


def memory_of(executable: jax.stages.Compiled) -> dict[str, int] | None:
    """Temp, output, argument and code bytes from XLA, or None if not reported."""
    try:
        analysis = executable.memory_analysis()
    except (NotImplementedError, RuntimeError):
        return None
    if analysis is None:
        return None
    fields = {
        "temp_bytes": "temp_size_in_bytes",
        "output_bytes": "output_size_in_bytes",
        "argument_bytes": "argument_size_in_bytes",
        "generated_code_bytes": "generated_code_size_in_bytes",
    }
    return {name: int(getattr(analysis, attr, 0) or 0) for name, attr in fields.items()}


def _timed(call: Callable[[], object], inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        jax.block_until_ready(call())
    return (time.perf_counter() - start) / inner


def time_interleaved(
    calls: Mapping[K, Callable[[], object]],
    *,
    budget_s: float,
    min_reps: int = 5,
    max_reps: int = 201,
    min_sample_s: float = 1e-3,
    seed: int = 0,
) -> dict[K, Timing]:
    """Times every call, interleaved, within about ``budget_s`` seconds.

    Args:
      calls: name -> a call with no arguments that returns a pytree.
      budget_s: the time to spend on the timed repetitions; the number of
        repetitions is what fits, clamped to [min_reps, max_reps].
      min_reps: fewest repetitions, whatever the budget.
      max_reps: most repetitions.
      min_sample_s: a sample of a fast call repeats it until this long.
      seed: seeds the order of the entries within each round.

    Returns:
      name -> Timing.
    """
    if not calls:
        return {}
    # Two untimed warm-ups; the second estimates the call's duration.
    estimate = {}
    for name, call in calls.items():
        jax.block_until_ready(call())
        estimate[name] = max(_timed(call, 1), 1e-7)
    inner = {name: max(1, math.ceil(min_sample_s / seconds)) for name, seconds in estimate.items()}
    per_round = sum(inner[name] * estimate[name] for name in calls)
    reps = int(min(max(budget_s // per_round, min_reps), max_reps))
    samples: dict[K, list[float]] = {name: [] for name in calls}
    names = list(calls)
    # A fresh order every round: an entry timed right after a large one finds
    # the caches cold, and with a fixed (or merely rotated) order that would
    # always be the same entry.
    shuffle = np.random.default_rng(seed)
    for _ in range(reps):
        for index in shuffle.permutation(len(names)):
            samples[names[index]].append(_timed(calls[names[index]], inner[names[index]]))
    timings = {}
    for name, values in samples.items():
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        timings[name] = Timing(
            float(median),
            float(min(values)),
            float(q1),
            float(q3),
            reps,
            inner[name],
            tuple(values),
        )
    return timings


def merge_copies(copies: Sequence[Timing]) -> Timing:
    """One Timing from several executables of the same program timed in the same rounds.

    Each round's sample is the median of the copies' samples of that round,
    so a copy that runs slow throughout is outvoted (with three or more
    copies); the statistics are then taken over rounds as usual.
    """
    if len(copies) == 1:
        return copies[0]
    per_round = np.median(np.array([c.samples_s for c in copies]), axis=0)
    q1, median, q3 = np.percentile(per_round, [25, 50, 75])
    return Timing(
        float(median),
        float(per_round.min()),
        float(q1),
        float(q3),
        copies[0].reps,
        copies[0].inner,
        tuple(float(v) for v in per_round),
    )
