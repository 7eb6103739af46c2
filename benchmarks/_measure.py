"""One configuration, measured: compile, warm up, time interleaved, compare.

Each row of the result is one entry (an algorithm in one Jacobian mode, or a
baseline) with its median time, its ratio to jax.grad and jax.vjp of the
same loss on the same inputs, its matmul throughput as a fraction of the
ceiling, its compile time, XLA's memory figures beside jax.grad's, and its
relative error against jax.grad's gradient (a check that what was timed is
the right computation).
"""

from __future__ import annotations

import functools

import jax
import numpy as np

import reference
from benchmarks._configs import Config
from benchmarks._entries import GRAD, PER_EXAMPLE, VJP, Entry, make_entries, make_inputs
from benchmarks._flops import backprop_flops, matmul_gflops, square_matmul
from benchmarks._timing import Compiled, Timing, compile_fn, merge_copies, time_interleaved
from manualgrad import _validation

#: The plain (un-jitted) public call is timed only where one call is at most this long.
PLAIN_CALL_LIMIT_S = 0.05
_REFUSAL_MARK = "dense mode would materialize"
CEILING_KEY = ("matmul ceiling", None, "square")


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
    max_dense_bytes: int | None = _validation.DEFAULT_MAX_DENSE_BYTES,
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
