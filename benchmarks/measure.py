"""Timing, fairly: compile, warm up, interleave, merge copies, measure a configuration.

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

The ceiling is what one large square matmul achieves, jitted, on the same
machine in the same run: measured once at the start over a few sizes, and
then, for the best size, again interleaved with each configuration's
timings, so that a configuration's fraction of the ceiling compares
throughputs measured under the same conditions.

Each row of :func:`benchmark_config` is one entry (an algorithm in one
Jacobian mode, or a baseline) with its median time, its ratio to jax.grad
and jax.vjp of the same loss on the same inputs, its matmul throughput as a
fraction of the ceiling, its compile time, XLA's memory figures beside
jax.grad's, and its relative error against jax.grad's gradient (a check
that what was timed is the right computation).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

import jax
import jax.numpy as jnp
import numpy as np

import reference
from benchmarks.workload import (
    GRAD,
    PER_EXAMPLE,
    VJP,
    Config,
    Entry,
    backprop_flops,
    make_entries,
    make_inputs,
)
from manualgrad import DEFAULT_MAX_DENSE_BYTES

K = TypeVar("K", bound=Hashable)

#: Square sizes timed for the ceiling; the best of them is the ceiling.
CEILING_SIZES: tuple[int, ...] = (1024, 2048)
QUICK_CEILING_SIZES: tuple[int, ...] = (1024,)
#: The plain (un-jitted) public call is timed only where one call is at most this long.
PLAIN_CALL_LIMIT_S = 0.05
_REFUSAL_MARK = "dense mode would materialize"
CEILING_KEY = ("matmul ceiling", None, "square")


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

    Attributes:
      median_s: the median sample.
      min_s: the fastest sample.
      q1_s: the first quartile of the samples.
      q3_s: the third quartile.
      reps: the number of samples (rounds).
      inner: calls per sample.
      samples_s: every sample, in round order.
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


def _timing_of(values: Sequence[float], reps: int, inner: int) -> Timing:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return Timing(
        float(median),
        float(min(values)),
        float(q1),
        float(q3),
        reps,
        inner,
        tuple(float(value) for value in values),
    )


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
    return {name: _timing_of(values, reps, inner[name]) for name, values in samples.items()}


def merge_copies(copies: Sequence[Timing]) -> Timing:
    """One Timing from several executables of the same program timed in the same rounds.

    Each round's sample is the median of the copies' samples of that round,
    so a copy that runs slow throughout is outvoted (with three or more
    copies); the statistics are then taken over rounds as usual.
    """
    if len(copies) == 1:
        return copies[0]
    per_round = np.median(np.array([c.samples_s for c in copies]), axis=0)
    return _timing_of(per_round, copies[0].reps, copies[0].inner)


# The ceiling.


def square_matmul(size: int, dtype: str = "float32") -> Callable[[], jax.Array]:
    """A call of a compiled (size, size) @ (size, size) product: 2 size^3 flops."""
    key_a, key_b = jax.random.split(jax.random.PRNGKey(size))
    a = jax.random.normal(key_a, (size, size), dtype)
    b = jax.random.normal(key_b, (size, size), dtype)
    compiled = jax.jit(jnp.matmul).lower(a, b).compile()
    return functools.partial(compiled, a, b)


def matmul_gflops(size: int, seconds: float) -> float:
    """GFLOP/s of one (size, size) @ (size, size) product taking ``seconds``."""
    return 2 * size**3 / seconds / 1e9


def measure_ceiling(
    *, sizes: Sequence[int] = CEILING_SIZES, dtype: str = "float32", reps: int = 7
) -> dict[str, object]:
    """The matmul ceiling: the best GFLOP/s of a jitted square matmul.

    Each size is timed ``reps`` times after a warm-up and its median kept;
    the ceiling is the best median over the sizes, so it is what a single
    large matrix multiply reaches on this machine in this run. The benchmark
    then times the best size again beside every configuration.

    Args:
      sizes: square sizes n; one (n, n) @ (n, n) product is 2 n^3 flops.
      dtype: the dtype of both operands.
      reps: timed repetitions per size.

    Returns:
      {"gflops": best, "size": its n, "dtype": dtype, "by_size": {n: gflops}}.
    """
    by_size: dict[str, float] = {}
    for n in sizes:
        call = square_matmul(n, dtype)
        jax.block_until_ready(call())
        samples = [_timed(call, 1) for _ in range(reps)]
        by_size[str(n)] = matmul_gflops(n, float(np.median(samples)))
    best = max(by_size, key=by_size.__getitem__)
    return {"gflops": by_size[best], "size": int(best), "dtype": dtype, "by_size": by_size}


# One configuration.


def _baseline_form(form: str) -> str:
    return "sample" if form == "sample" else "batch"


def benchmark_config(
    config: Config,
    *,
    ceiling_size: int,
    dtype: str = "float32",
    budget_s: float = 10.0,
    min_reps: int = 5,
    copies: int = 3,
    max_dense_bytes: int | None = DEFAULT_MAX_DENSE_BYTES,
) -> list[dict]:
    """Times every entry of ``config`` and returns one row per entry.

    Args:
      config: the network and batch.
      ceiling_size: the square matmul timed beside the entries as the ceiling.
      dtype: the dtype of parameters and data.
      budget_s: seconds to spend on the timed repetitions.
      min_reps: fewest repetitions, whatever the budget.
      copies: executables compiled per structured entry and baseline, timed
        in the same rounds and merged by :func:`merge_copies`.
      max_dense_bytes: the dense mode's budget.

    Returns:
      A list of flat dicts (see docs/benchmarks.md for every field). A dense
      row's ratios compare it with the baselines timed in its own rounds.
    """
    theta, X, Y = make_inputs(config, dtype)
    entries = make_entries(config, theta, X, Y, max_dense_bytes=max_dense_bytes)
    compiled: dict[tuple, Compiled] = {}
    refused: dict[tuple, str] = {}
    outputs: dict[tuple, object] = {}
    for entry in entries:
        if entry.refusal is not None:
            refused[entry.key] = entry.refusal
            continue
        try:
            compiled[entry.key] = compile_fn(entry.fn, entry.args)
        except ValueError as error:
            if entry.mode != "dense" or _REFUSAL_MARK not in str(error):
                raise
            refused[entry.key] = str(error)
            continue
        outputs[entry.key] = jax.block_until_ready(compiled[entry.key].executable(*entry.args))
    by_key = {entry.key: entry for entry in entries}
    calls = {key: functools.partial(c.executable, *by_key[key].args) for key, c in compiled.items()}
    baselines = [key for key in calls if by_key[key].algorithm is None]
    dense = [key for key in calls if by_key[key].mode == "dense"]
    # The dense entries are slow; timed in the same rounds as the rest they
    # would leave the fast entries few repetitions. They get their own rounds,
    # interleaved with the baselines again, and are compared within them.
    main_group = {(key, 0): call for key, call in calls.items() if key not in dense}
    for key in [key for key, _ in main_group]:
        # Copy 0 is the executable compiled above; its twins only add timings.
        for copy in range(1, copies):
            twin = compile_fn(by_key[key].fn, by_key[key].args).executable
            main_group[key, copy] = functools.partial(twin, *by_key[key].args)
    main_group[CEILING_KEY, 0] = square_matmul(ceiling_size, dtype)
    copy_timings = time_interleaved(main_group, budget_s=budget_s, min_reps=min_reps)
    ceiling_gflops = matmul_gflops(ceiling_size, copy_timings.pop((CEILING_KEY, 0)).median_s)
    by_entry: dict[tuple, list[Timing]] = {}
    for (key, _), timing in copy_timings.items():
        by_entry.setdefault(key, []).append(timing)
    timings = {key: merge_copies(copy_list) for key, copy_list in by_entry.items()}
    dense_timings = {}
    if dense:
        dense_group = {key: calls[key] for key in dense + baselines}
        dense_timings = time_interleaved(dense_group, budget_s=budget_s / 2, min_reps=min_reps)
    plain = {
        key: by_key[key].plain_call
        for key, timing in timings.items()
        if by_key[key].plain_call is not None and timing.median_s <= PLAIN_CALL_LIMIT_S
    }
    plain_timings = time_interleaved(plain, budget_s=budget_s / 4, min_reps=min_reps)
    rows = []
    for entry in entries:
        group = dense_timings if entry.key in dense else timings
        rows.append(
            _row(config, entry, compiled, refused, outputs, group, plain_timings, ceiling_gflops)
        )
    return rows


def paired_ratio(timing: Timing, baseline: Timing) -> float:
    """The median over rounds of this entry's sample over the baseline's in the same round."""
    ratios = [a / b for a, b in zip(timing.samples_s, baseline.samples_s, strict=True)]
    return float(np.median(ratios))


def _row(
    config: Config,
    entry: Entry,
    compiled: dict[tuple, Compiled],
    refused: dict[tuple, str],
    outputs: dict[tuple, object],
    timings: dict[tuple, Timing],
    plain_timings: dict[tuple, Timing],
    ceiling_gflops: float,
) -> dict:
    form = _baseline_form(entry.form)
    grad_key, vjp_key = (GRAD, None, form), (VJP, None, form)
    num_rows = 1 if entry.form == "sample" else config.N
    flops = backprop_flops(config.dims, num_rows)
    row: dict = {
        **config.as_dict(),
        "name": entry.name,
        "algorithm": entry.algorithm,
        "mode": entry.mode,
        "form": entry.form,
        "flops": flops,
    }
    if entry.key in refused:
        return {**row, "status": "refused", "refusal": refused[entry.key]}
    timing, grad, vjp = timings[entry.key], timings[grad_key], timings[vjp_key]
    gflops = flops / timing.median_s / 1e9
    memory = compiled[entry.key].memory or {}
    grad_memory = compiled[grad_key].memory or {}
    row.update(
        status="ok",
        refusal=None,
        median_s=timing.median_s,
        min_s=timing.min_s,
        q1_s=timing.q1_s,
        q3_s=timing.q3_s,
        samples_s=list(timing.samples_s),
        reps=timing.reps,
        inner=timing.inner,
        grad_median_s=grad.median_s,
        ratio=timing.median_s / grad.median_s,
        ratio_paired=paired_ratio(timing, grad),
        ratio_vjp=timing.median_s / vjp.median_s,
        ratio_per_example=None,
        gflops=gflops,
        ceiling_gflops=ceiling_gflops,
        ceiling_fraction=gflops / ceiling_gflops,
        lower_s=compiled[entry.key].lower_s,
        compile_s=compiled[entry.key].compile_s,
        temp_bytes=memory.get("temp_bytes"),
        output_bytes=memory.get("output_bytes"),
        argument_bytes=memory.get("argument_bytes"),
        grad_temp_bytes=grad_memory.get("temp_bytes"),
        grad_output_bytes=grad_memory.get("output_bytes"),
        max_rel_error=reference.relative_error(outputs[entry.key], outputs[grad_key]),
        plain_call_s=plain_timings[entry.key].median_s if entry.key in plain_timings else None,
    )
    per_example_key = (PER_EXAMPLE, None, "vmap")
    if entry.form == "vmap" and per_example_key in timings:
        row["ratio_per_example"] = timing.median_s / timings[per_example_key].median_s
    return row
