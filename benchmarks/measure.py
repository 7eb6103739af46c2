"""Timing, fairly: compile, check, calibrate, interleave until the ratios settle.

* Compile time is ``jax.jit(f).lower(*args).compile()``, timed once; the
  compiled executable is what is then called, for every entry alike. The
  peers outside JAX (NumPy, autograd, torch) are called as they are.
* Every entry's gradient is checked against ``reference.grad`` of the same
  inputs before it is timed; an entry that disagrees is reported as wrong
  and not timed.
* Calibrated loops: each call is repeated within one sample until the
  sample lasts ``min_sample_s`` (:func:`benchmarks.stats.calibrate_loops`),
  so the timer's resolution and the dispatch noise of a single call do not
  decide; every call is followed by ``jax.block_until_ready`` on its whole
  output, and a sample is the mean time per call.
* Interleaved rounds: every round times each entry once, in a fresh
  (seeded) random order, so a slow spell of the machine falls on every
  entry alike and no entry always follows the same one.
* Copies: the same program compiled twice can run at different speeds for
  the whole life of the process (where XLA's buffers and code land in
  memory). Every JAX entry is compiled several times and the copies are
  timed in the same rounds; :func:`merge_copies` takes, in every round, the
  median over the copies, so one unlucky copy does not decide.
* Sampling until the ratios settle: after the first ``min_reps`` rounds,
  every entry's ratio to jax.grad (the median over rounds of the ratio of
  the two samples of a round) gets a 95% bootstrap interval
  (:func:`benchmarks.stats.ratio_ci`); an entry whose interval is within
  +-3% of its ratio stops being timed, and the rounds go on until every
  entry has settled or the configuration's time budget is spent. An entry
  that had not settled by then is marked noisy.
* The limit: the network's matrix products alone
  (:func:`benchmarks.workload.products_alone`), jitted and timed in the
  same rounds; each entry's time is reported as a multiple of it.
* The ceiling: what one large square matmul achieves, jitted, measured once
  at the start over a few sizes and then, for the best size, in every
  configuration's rounds, so a configuration's fraction of the ceiling
  compares throughputs measured under the same conditions.
* What XLA says about each program: its memory (``memory_analysis``) and,
  from the compiled HLO, where its instructions go besides the products
  (:func:`hlo_breakdown`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

import jax
import jax.numpy as jnp
import numpy as np

import reference
from benchmarks import stats
from benchmarks.workload import (
    COST,
    GRAD,
    GRAD_COPY,
    PER_EXAMPLE,
    VJP,
    Config,
    Entry,
    backprop_flops,
    baseline_form,
    make_entries,
    make_inputs,
    products_alone,
)
from manualgrad import DEFAULT_MAX_DENSE_BYTES

K = TypeVar("K", bound=Hashable)

#: Square sizes timed for the ceiling; the best of them is the ceiling.
CEILING_SIZES: tuple[int, ...] = (1024, 2048)
QUICK_CEILING_SIZES: tuple[int, ...] = (1024,)
#: The plain (un-jitted) public call is timed only where one call is at most this long.
PLAIN_CALL_LIMIT_S = 0.05
#: The shortest sample: calls are repeated within a sample until it lasts this long.
MIN_SAMPLE_S = 5e-3
#: The most rounds of one group, whatever the budget.
MAX_REPS = 2000
_REFUSAL_MARK = "dense mode would materialize"
CEILING_KEY = ("matmul ceiling", None, "square")
LIMIT_NAME = "products alone"


def limit_key(form: str) -> tuple[str, None, str]:
    """The key of the products-alone program timed beside entries of ``form``."""
    return (LIMIT_NAME, None, baseline_form(form))


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
    same index were taken moments apart. An entry that settled early has
    fewer samples than the rounds of its group; its samples are the first
    rounds'.

    Attributes:
      median_s: the median sample.
      min_s: the fastest sample.
      q1_s: the first quartile of the samples.
      q3_s: the third quartile.
      reps: the number of samples (rounds).
      inner: calls per sample (the calibrated loop count).
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
    """Lowers and compiles ``jax.jit(fn)`` for ``args``, timing both steps.

    Every call makes an executable of its own: JAX caches what it traced
    and compiled by the function object, so ``fn`` is wrapped in a fresh
    function first; otherwise a second copy of an entry would be the first
    one again, and its compile time a cache hit.
    """

    def fresh(*arguments: object) -> object:
        return fn(*arguments)

    start = time.perf_counter()
    lowered = jax.jit(fresh).lower(*args)
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


# Where a compiled program's instructions go.

#: The kinds of :func:`hlo_breakdown`, in the order of the tables.
HLO_KINDS: tuple[str, ...] = ("products", "elementwise", "reductions", "data movement")
_PRODUCT_OPS = frozenset({"dot", "convolution"})
_REDUCTION_OPS = frozenset({"reduce", "reduce-window"})
_MOVEMENT_OPS = frozenset(
    {
        "bitcast",
        "broadcast",
        "concatenate",
        "copy",
        "dynamic-slice",
        "dynamic-update-slice",
        "gather",
        "iota",
        "pad",
        "reshape",
        "reverse",
        "scatter",
        "slice",
        "transpose",
    }
)
_FREE_OPS = frozenset(
    {"parameter", "constant", "tuple", "get-tuple-element", "bitcast", "opt-barrier"}
)
_HEADER = re.compile(r"^(ENTRY\s+)?%(?P<name>[\w.\-]+)\s.*\{\s*$")
_INSTRUCTION = re.compile(
    r"^\s*(?:ROOT\s+)?%[\w.\-]+\s*=\s*(?P<shape>\([^=]*?\)|\S+)\s+(?P<op>[\w\-]+)\((?P<rest>.*)$"
)
_CALLS = re.compile(r"calls=%([\w.\-]+)")
_ARRAY = re.compile(r"\b(pred|[a-z]+\d+)\[([\d,]*)\]")
_ITEM_BYTES = {"pred": 1, "s8": 1, "u8": 1, "f16": 2, "bf16": 2, "s16": 2, "u16": 2}


def _shape_bytes(shape: str) -> int:
    total = 0
    for dtype, dims in _ARRAY.findall(shape):
        size = math.prod(int(d) for d in dims.split(",") if d)
        total += size * _ITEM_BYTES.get(dtype, 8 if dtype.endswith("64") else 4)
    return total


def _computations(text: str) -> tuple[dict[str, list[tuple[str, str, str]]], str | None]:
    """name -> its instructions as (shape, op, rest of line); and the ENTRY's name."""
    computations: dict[str, list[tuple[str, str, str]]] = {}
    entry, current = None, None
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            current = header.group("name")
            computations[current] = []
            if header.group(1):
                entry = current
        elif line.strip() == "}":
            current = None
        elif current is not None:
            found = _INSTRUCTION.match(line)
            if found:
                computations[current].append(found.group("shape", "op", "rest"))
    return computations, entry


def hlo_breakdown(text: str) -> dict[str, dict[str, int]]:
    """Where the top-level instructions of a compiled program go, from its HLO text.

    Every instruction of the ENTRY computation (a fusion counts once) is one
    of: ``products`` (a dot or convolution, or a fusion containing one, such
    as a product with its bias add fused in), ``reductions`` (a reduce, or a
    fusion containing one: bias gradients, softmax sums), ``data movement``
    (copies, transposes, broadcasts, and fusions of nothing else) or
    ``elementwise`` (every other fusion or operation: activations, their
    derivatives, the cost). Parameters, constants, tuples, bitcasts and
    optimization barriers are free and not counted. An outer product, which
    XLA writes as a broadcast multiply, counts as elementwise.

    Args:
      text: ``compiled.as_text()``.

    Returns:
      kind -> {"count": instructions, "bytes": bytes their outputs write}.
    """
    computations, entry = _computations(text)
    found = {kind: {"count": 0, "bytes": 0} for kind in HLO_KINDS}
    if entry is None:
        return found

    @functools.cache
    def ops_in(name: str) -> frozenset[str]:
        ops = set()
        for _, op, rest in computations.get(name, ()):
            ops.add(op)
            for called in _CALLS.findall(rest):
                ops |= ops_in(called)
        return frozenset(ops)

    for shape, op, rest in computations[entry]:
        if op in _FREE_OPS:
            continue
        ops = {op}
        for called in _CALLS.findall(rest):
            ops |= ops_in(called)
        if ops & _PRODUCT_OPS or (op == "custom-call" and "matmul" in rest):
            kind = "products"
        elif ops & _REDUCTION_OPS:
            kind = "reductions"
        elif ops - {"fusion"} <= _MOVEMENT_OPS | _FREE_OPS:
            kind = "data movement"
        else:
            kind = "elementwise"
        found[kind]["count"] += 1
        found[kind]["bytes"] += _shape_bytes(shape)
    return found


# Timing.


def _timed(call: Callable[[], object], loops: int) -> float:
    """Mean seconds per call over ``loops`` calls, each blocked on."""
    start = time.perf_counter()
    for _ in range(loops):
        jax.block_until_ready(call())
    return (time.perf_counter() - start) / loops


def timing_of(values: Sequence[float], inner: int) -> Timing:
    """The statistics of one entry's samples."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return Timing(
        float(median),
        float(min(values)),
        float(q1),
        float(q3),
        len(values),
        inner,
        tuple(float(value) for value in values),
    )


Retire = Callable[[Mapping[K, Sequence[float]], frozenset[K]], set[K]]


def time_interleaved(
    calls: Mapping[K, Callable[[], object]],
    *,
    budget_s: float,
    min_reps: int = 5,
    max_reps: int = MAX_REPS,
    min_sample_s: float = MIN_SAMPLE_S,
    seed: int = 0,
    retire: Retire | None = None,
) -> dict[K, Timing]:
    """Times every call in interleaved rounds until the budget is spent or all are retired.

    Args:
      calls: name -> a call with no arguments that returns a pytree.
      budget_s: seconds of timed rounds; at least ``min_reps`` rounds are
        taken whatever the budget.
      min_reps: fewest rounds.
      max_reps: most rounds.
      min_sample_s: each call is repeated within a sample until the sample
        lasts this long (calibrated once, before the rounds).
      seed: seeds the order of the calls within each round.
      retire: (samples so far, the calls still timed) -> the calls that need
        no more samples. Asked after ``min_reps`` rounds and then now and
        then (its own cost kept to a tenth of the time); the rounds end
        when no call is left. None: every call is timed in every round.

    Returns:
      name -> Timing.
    """
    if not calls:
        return {}
    loops = {}
    for name, call in calls.items():
        jax.block_until_ready(call())  # the untimed warm-up
        first = stats.first_loops(_timed(call, 1), min_sample_s)
        loops[name] = stats.calibrate_loops(
            lambda count, call=call: _timed(call, count) * count,
            min_sample_s=min_sample_s,
            start=first,
            trials=2,
        )
    samples: dict[K, list[float]] = {name: [] for name in calls}
    active = list(calls)
    shuffle = np.random.default_rng(seed)
    start = time.perf_counter()
    next_check, check_s = 0.0, 0.0
    for rep in range(1, max_reps + 1):
        for index in shuffle.permutation(len(active)):
            name = active[index]
            samples[name].append(_timed(calls[name], loops[name]))
        elapsed = time.perf_counter() - start
        if rep >= min_reps and elapsed >= budget_s:
            break
        if retire is not None and rep >= min_reps and elapsed >= next_check:
            checked_at = time.perf_counter()
            done = retire(samples, frozenset(active))
            active = [name for name in active if name not in done]
            check_s = time.perf_counter() - checked_at
            next_check = time.perf_counter() - start + 9 * check_s
            if not active:
                break
    return {name: timing_of(values, loops[name]) for name, values in samples.items()}


def merge_copies(copies: Sequence[Timing]) -> Timing:
    """One Timing from several executables of the same program timed in the same rounds.

    Each round's sample is the median of the copies' samples of that round,
    so a copy that runs slow throughout is outvoted (with three or more
    copies); the statistics are then taken over rounds as usual.
    """
    if len(copies) == 1:
        return copies[0]
    per_round = np.median(np.array([c.samples_s for c in copies]), axis=0)
    return timing_of(per_round, copies[0].inner)


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


@dataclasses.dataclass(frozen=True)
class Settings:
    """How one configuration is measured.

    Attributes:
      ceiling_size: the square matmul timed beside the entries as the ceiling.
      dtype: the dtype of parameters and data.
      budget_s: seconds of timed rounds for the JAX entries; the dense ones
        and the peers outside JAX get half as much again each, in rounds of
        their own, and the plain calls an eighth.
      min_reps: fewest rounds, whatever the budget.
      copies: executables compiled per JAX entry, timed in the same rounds
        and merged by :func:`merge_copies`.
      max_dense_bytes: the dense mode's budget.
      min_sample_s: the shortest sample (calibrated loops).
      tolerance: an entry settles when its ratio's interval is within this
        fraction of the ratio.
      peers: the peers outside JAX to time, where installed.
      dense: whether to time the dense Jacobian mode.
      plain_calls: whether to time the public functions called without an
        outer jit (their Python-side checks included).
    """

    ceiling_size: int
    dtype: str = "float32"
    budget_s: float = 10.0
    min_reps: int = 5
    copies: int = 3
    max_dense_bytes: int | None = DEFAULT_MAX_DENSE_BYTES
    min_sample_s: float = MIN_SAMPLE_S
    tolerance: float = stats.TOLERANCE
    peers: tuple[str, ...] = ()
    dense: bool = True
    plain_calls: bool = True


@dataclasses.dataclass(frozen=True)
class Measured:
    """One configuration's results.

    Attributes:
      rows: one flat dict per entry (docs/benchmarks.md names every field).
      limits: one dict per form: the products-alone program's time.
    """

    rows: list[dict]
    limits: list[dict]


def _reference_keys(keys: Sequence[tuple]) -> set[tuple]:
    """The entries every other is compared with: jax.grad, the limit, the ceiling."""
    return {key for key in keys if key[0] in (GRAD, LIMIT_NAME) and key[1] is None} | {CEILING_KEY}


def _settler(tolerance: float) -> Retire:
    """The ``retire`` of :func:`time_interleaved` for (entry key, copy) calls.

    An entry is retired (all its copies) once its ratio to jax.grad of its
    form has an interval within ``tolerance``; jax.grad, the limit and the
    ceiling are kept while any other entry is timed.
    """

    def retire(samples: Mapping[tuple, Sequence[float]], active: frozenset[tuple]) -> set[tuple]:
        merged = _merged(samples)
        references = _reference_keys(list(merged))
        live = {key for key, _ in active} - references
        done = set()
        for key in live:
            baseline = merged[(GRAD, None, baseline_form(key[2]))]
            ratio = stats.paired_ratio(merged[key], baseline)
            ci = stats.ratio_ci(merged[key], baseline)
            if stats.is_settled(ratio, ci, len(merged[key]), tolerance=tolerance):
                done.add(key)
        if live <= done:
            done |= references
        return {call for call in active if call[0] in done}

    return retire


def _merged(samples: Mapping[tuple, Sequence[float]]) -> dict[tuple, np.ndarray]:
    """(entry key, copy) -> samples, merged into entry key -> per-round median of copies."""
    by_entry: dict[tuple, list[Sequence[float]]] = {}
    for (key, _), values in samples.items():
        by_entry.setdefault(key, []).append(values)
    return {key: np.median(np.array(copies), axis=0) for key, copies in by_entry.items()}


def _group_timings(copy_timings: Mapping[tuple, Timing]) -> dict[tuple, Timing]:
    by_entry: dict[tuple, list[Timing]] = {}
    for (key, _), timing in copy_timings.items():
        by_entry.setdefault(key, []).append(timing)
    return {key: merge_copies(copy_list) for key, copy_list in by_entry.items()}


def benchmark_config(config: Config, settings: Settings) -> Measured:
    """Checks and times every entry of ``config``; one row per entry.

    Args:
      config: the network and batch.
      settings: how to measure it.

    Returns:
      The rows and the limits. A dense row's ratios compare it with the
      baselines timed in its own rounds.
    """
    dtype = settings.dtype
    theta, X, Y = make_inputs(config, dtype)
    entries = make_entries(
        config,
        theta,
        X,
        Y,
        max_dense_bytes=settings.max_dense_bytes,
        peer_names=settings.peers,
        dense=settings.dense,
    )
    expected = {"batch": reference.grad(theta, X, Y, config.activations, COST)}
    if config.N == 1:
        expected["sample"] = reference.grad(theta, X[0], Y[0], config.activations, COST)
    compiled: dict[tuple, Compiled] = {}
    refused: dict[tuple, str] = {}
    errors: dict[tuple, float] = {}
    calls: dict[tuple, Callable[[], object]] = {}
    for entry in entries:
        if entry.refusal is not None:
            refused[entry.key] = entry.refusal
            continue
        if entry.outside is not None:
            calls[entry.key] = entry.outside.call
            output = entry.outside.to_params(entry.outside.call())
        else:
            try:
                compiled[entry.key] = compile_fn(entry.fn, entry.args)
            except ValueError as error:
                if entry.mode != "dense" or _REFUSAL_MARK not in str(error):
                    raise
                refused[entry.key] = str(error)
                continue
            calls[entry.key] = functools.partial(compiled[entry.key].executable, *entry.args)
            output = jax.block_until_ready(calls[entry.key]())
        errors[entry.key] = reference.relative_error(output, expected[baseline_form(entry.form)])
    wrong = {key for key, error in errors.items() if error > reference.tolerance(dtype)}
    by_key = {entry.key: entry for entry in entries}
    forms = sorted({baseline_form(entry.form) for entry in entries})
    limit_args = {"batch": (theta, X), "sample": (theta, X[0])}
    for form in forms:
        compiled[limit_key(form)] = compile_fn(products_alone, limit_args[form])
        calls[limit_key(form)] = functools.partial(
            compiled[limit_key(form)].executable, *limit_args[form]
        )
    timed = [key for key in calls if key not in wrong]
    dense = [key for key in timed if key[1] == "dense"]
    outside = [key for key in timed if key in by_key and by_key[key].outside is not None]
    references = _reference_keys(timed)
    # The dense entries are slow, and the peers outside JAX run thread pools
    # of their own that may still hold the cores when the next call starts.
    # Each kind gets rounds of its own, interleaved with jax.grad, the other
    # JAX baselines and the limit again, and is compared with them there.
    main_group = {(key, 0): calls[key] for key in timed if key not in dense + outside}
    for key, _ in list(main_group):
        fn = products_alone if key[0] == LIMIT_NAME else by_key[key].fn
        args = limit_args[key[2]] if key[0] == LIMIT_NAME else by_key[key].args
        for copy in range(1, settings.copies):
            twin = compile_fn(fn, args).executable
            main_group[key, copy] = functools.partial(twin, *args)
    main_group[CEILING_KEY, 0] = square_matmul(settings.ceiling_size, dtype)
    options = {
        "min_reps": settings.min_reps,
        "min_sample_s": settings.min_sample_s,
        "retire": _settler(settings.tolerance),
    }
    timings = _group_timings(time_interleaved(main_group, budget_s=settings.budget_s, **options))
    ceiling_gflops = matmul_gflops(settings.ceiling_size, timings.pop(CEILING_KEY).median_s)
    beside = [key for key in timed if key[0] in (VJP, PER_EXAMPLE) and key[1] is None]
    beside += sorted(references - {CEILING_KEY})
    group_of = dict.fromkeys(timings, timings)
    for members in (dense, outside):
        if members:
            group = {(key, 0): calls[key] for key in members + beside}
            side = _group_timings(
                time_interleaved(group, budget_s=settings.budget_s / 2, **options)
            )
            group_of.update(dict.fromkeys(members, side))
    plain = {
        key: by_key[key].plain_call
        for key, timing in timings.items()
        if key in by_key
        and by_key[key].plain_call is not None
        and settings.plain_calls
        and timing.median_s <= PLAIN_CALL_LIMIT_S
    }
    plain_timings = time_interleaved(
        plain,
        budget_s=settings.budget_s / 8,
        min_reps=settings.min_reps,
        min_sample_s=settings.min_sample_s,
    )
    floors = {}
    for form in forms:
        keys = floor_of(timings, form)
        if keys is not None:
            copy, grad = (timings[key] for key in keys)
            floors[form] = stats.ratio_ci(copy.samples_s, grad.samples_s)
    context = _Context(
        config, compiled, refused, errors, wrong, plain_timings, ceiling_gflops, settings, floors
    )
    rows = [_row(context, entry, group_of.get(entry.key, timings)) for entry in entries]
    limits = [
        {
            **config.as_dict(),
            "form": form,
            "median_s": timings[limit_key(form)].median_s,
            "samples_s": list(timings[limit_key(form)].samples_s),
            "flops": backprop_flops(config.dims, 1 if form == "sample" else config.N),
            "hlo": hlo_breakdown(compiled[limit_key(form)].executable.as_text()),
        }
        for form in forms
    ]
    return Measured(rows, limits)


@dataclasses.dataclass(frozen=True)
class _Context:
    config: Config
    compiled: dict[tuple, Compiled]
    refused: dict[tuple, str]
    errors: dict[tuple, float]
    wrong: set[tuple]
    plain_timings: dict[tuple, Timing]
    ceiling_gflops: float
    settings: Settings
    floors: dict[str, tuple[float, float]]


def ratio_fields(
    timing: Timing,
    baseline: Timing,
    *,
    tolerance: float,
    floor_ci: Sequence[float] | None = None,
) -> dict[str, object]:
    """The paired ratio of two timings of the same rounds, its interval, and the verdict.

    Args:
      timing: the entry's.
      baseline: what it is compared with, timed in the same rounds.
      tolerance: the settling tolerance.
      floor_ci: the noise floor's interval (jax.grad's second copy against
        jax.grad); the verdict is taken on the interval widened by it
        (:func:`benchmarks.stats.widen`). None: on the interval itself.

    Returns:
      {"ratio_paired", "ratio_ci", "settled", "verdict_ci", "verdict"}.
    """
    ratio = stats.paired_ratio(timing.samples_s, baseline.samples_s)
    ci = stats.ratio_ci(timing.samples_s, baseline.samples_s)
    settled = stats.is_settled(ratio, ci, timing.reps, tolerance=tolerance)
    judged = ci if floor_ci is None else stats.widen(ci, floor_ci)
    return {
        "ratio_paired": ratio,
        "ratio_ci": list(ci),
        "settled": settled,
        "verdict_ci": list(judged),
        "verdict": stats.verdict(judged, settled=settled),
    }


def floor_of(rows_or_timings: Mapping[tuple, object], form: str) -> tuple[tuple, tuple] | None:
    """The keys of the noise floor for entries of ``form``: (second copy, jax.grad)."""
    form = baseline_form(form)
    keys = ((GRAD_COPY, None, form), (GRAD, None, form))
    return keys if all(key in rows_or_timings for key in keys) else None


def _row(context: _Context, entry: Entry, timings: dict[tuple, Timing]) -> dict:
    config = context.config
    form = baseline_form(entry.form)
    grad_key, vjp_key = (GRAD, None, form), (VJP, None, form)
    num_rows = 1 if entry.form == "sample" else config.N
    flops = backprop_flops(config.dims, num_rows)
    row: dict = {
        **config.as_dict(),
        "name": entry.name,
        "peer": entry.peer,
        "algorithm": entry.algorithm,
        "mode": entry.mode,
        "form": entry.form,
        "flops": flops,
    }
    if entry.key in context.refused:
        return {**row, "status": "refused", "refusal": context.refused[entry.key]}
    if entry.key in context.wrong:
        return {
            **row,
            "status": "wrong",
            "refusal": None,
            "max_rel_error": context.errors[entry.key],
        }
    timing, grad, vjp = timings[entry.key], timings[grad_key], timings[vjp_key]
    limit = timings[limit_key(form)]
    shared = grad.samples_s[: timing.reps]
    gflops = flops / timing.median_s / 1e9
    compiled = context.compiled.get(entry.key)
    memory = (compiled.memory if compiled else None) or {}
    grad_memory = context.compiled[grad_key].memory or {}
    limit_fields = ratio_fields(timing, limit, tolerance=context.settings.tolerance)
    floor_ci = None if entry.name == GRAD_COPY else context.floors.get(form)
    grad_fields = ratio_fields(
        timing, grad, tolerance=context.settings.tolerance, floor_ci=floor_ci
    )
    if entry.key == grad_key:
        grad_fields["verdict"] = stats.BASELINE
    elif entry.name == GRAD_COPY:
        grad_fields["verdict"] = stats.FLOOR
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
        ratio=timing.median_s / float(np.median(shared)),
        **grad_fields,
        ratio_vjp=timing.median_s / vjp.median_s,
        ratio_per_example=None,
        limit_s=limit.median_s,
        limit_multiple=limit_fields["ratio_paired"],
        limit_multiple_ci=limit_fields["ratio_ci"],
        gflops=gflops,
        ceiling_gflops=context.ceiling_gflops,
        ceiling_fraction=gflops / context.ceiling_gflops,
        lower_s=compiled.lower_s if compiled else None,
        compile_s=compiled.compile_s if compiled else None,
        temp_bytes=memory.get("temp_bytes"),
        output_bytes=memory.get("output_bytes"),
        argument_bytes=memory.get("argument_bytes"),
        grad_temp_bytes=grad_memory.get("temp_bytes"),
        grad_output_bytes=grad_memory.get("output_bytes"),
        max_rel_error=context.errors[entry.key],
        plain_call_s=(
            context.plain_timings[entry.key].median_s
            if entry.key in context.plain_timings
            else None
        ),
        hlo=hlo_breakdown(compiled.executable.as_text()) if compiled else None,
    )
    per_example_key = (PER_EXAMPLE, None, "vmap")
    if entry.form == "vmap" and per_example_key in timings:
        row["ratio_per_example"] = timing.median_s / timings[per_example_key].median_s
    return row


def comparison_rows(
    config: Config, rows: Sequence[dict], comparisons: Sequence, *, tolerance: float
) -> list[dict]:
    """The rows of "where the mathematics beats jax.grad" for one configuration.

    Args:
      config: the network.
      rows: its rows, from :func:`benchmark_config`.
      comparisons: ``benchmarks.workload.COMPARISONS``.
      tolerance: the settling tolerance of the intervals.

    Returns:
      One dict per comparison whose two entries were both timed here (in
      the same rounds): what, entry, against, their medians and the ratio
      with its interval and verdict.
    """
    by_key = {(r["name"], r["mode"], r["form"]): r for r in rows if r["status"] == "ok"}
    found = []
    for comparison in comparisons:
        mine, other = by_key.get(comparison.entry), by_key.get(comparison.against)
        if mine is None or other is None:
            continue
        keys = floor_of(by_key, comparison.entry[2])
        floor_ci = by_key[keys[0]]["ratio_ci"] if keys is not None else None
        fields = ratio_fields(
            _as_timing(mine), _as_timing(other), tolerance=tolerance, floor_ci=floor_ci
        )
        found.append(
            {
                **config.as_dict(),
                "what": comparison.what,
                "entry": f"{mine['name']} ({mine['form']})",
                "against": f"{other['name']} ({other['form']})",
                "median_s": mine["median_s"],
                "against_median_s": other["median_s"],
                **fields,
            }
        )
    return found


def _as_timing(row: dict) -> Timing:
    return timing_of(row["samples_s"], row["inner"])
