"""compare_backprop and check_backprop: draw seeded problems, call, compare, diagnose."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import numpy as np
from jax.typing import ArrayLike, DTypeLike

import manualgrad
from manualgrad import Activation, Cost, Params
from reference.checker import _message
from reference.checker._arguments import Spec, activation_name, make_spec
from reference.checker._calls import call, describe_value
from reference.checker._cases import (
    Case,
    Leaves,
    draw,
    expected_leaves,
    leaf_names,
    targets_as_labels,
)
from reference.checker._directional import compare_directionally
from reference.checker._loss import loss_report
from reference.checker._results import MalformedError, Reading, read
from reference.checker.mistakes import forward_pass, mistake_errors
from reference.checker.observations import (
    LeafReport,
    LossReport,
    Observation,
    leaf_errors,
    leaf_report,
)
from reference.checker.report import BackpropReport, OracleReport, SeedReport
from reference.checker.rules import DIRECTIONAL_RULES, diagnose
from reference.finite_differences import AUTODIFF
from reference.tolerances import relative_error

__all__ = ["check_backprop", "compare_backprop"]

Candidate = Callable[[Params, jax.Array, jax.Array], Any]


@dataclasses.dataclass(frozen=True)
class _Run:
    """One seed, compared; ``expected`` is None in mode "directional", which forms none."""

    case: Case
    reading: Reading
    expected: Leaves | None
    leaves: tuple[LeafReport, ...]
    loss: LossReport | None
    oracle: OracleReport

    @property
    def gradient_ok(self) -> bool:
        return all(r.ok for r in self.leaves)

    @property
    def gradient_wrong(self) -> bool:
        """Whether a compared leaf is wrong (not merely left uncompared at a kink)."""
        return any(not r.ok and not r.not_compared for r in self.leaves)

    @property
    def passed(self) -> bool:
        return self.gradient_ok and (self.loss is None or self.loss.ok)

    def report(self) -> SeedReport:
        return SeedReport(self.case.seed, self.passed, self.leaves, self.loss, self.oracle)


def _note(spec: Spec, seed: int, what: str, inputs: Sequence[Any]) -> Callable[[], str]:
    def note() -> str:
        theta, X, Y = inputs
        hints = []
        if spec.weight_layout == "out_in":
            hints.append("W_l as (m_{l-1}, n_l) (Z = X @ W): weight_layout='in_out'")
        if spec.batch_layout == "rows":
            hints.append("X as (n_0, N): batch_layout='columns'")
        if spec.targets == "probabilities" and spec.cost.name == "cross_entropy":
            hints.append("integer class labels: targets='labels'")
        text = (
            f"check_backprop: raised by {what}(theta, X, Y) on seed {seed}, called with "
            f"theta.W = [{describe_value(theta.W)}], theta.b = [{describe_value(theta.b)}], "
            f"X {describe_value(X)}, Y {describe_value(Y)}.\n"
            f"Options in force: {spec.describe_options()}."
        )
        if hints:
            text += f"\nIf the code expects {'; '.join(hints)}."
        return text

    return note


def _leaves(reading: Reading, expected: Leaves, spec: Spec) -> tuple[LeafReport, ...]:
    """The LeafReports of W_1, b_1, ..., W_L, b_L."""
    names = leaf_names(spec.num_layers)
    errors = leaf_errors(reading.leaves, expected)
    returned = {name: "transposed" for name in reading.transposed}
    for l in reading.swapped:
        returned[f"W_{l}"] = returned[f"b_{l}"] = "swapped"
    reports = {
        name: leaf_report(
            name,
            got,
            e,
            error,
            tolerance=spec.tolerance,
            batch_size=spec.rows,
            shape=reading.shapes[name],
            returned=returned.get(name, ""),
        )
        for name, got, e, error in zip(names, reading.leaves, expected, errors, strict=True)
    }
    layers = range(1, spec.num_layers + 1)
    return tuple(reports[f"{kind}_{l}"] for l in layers for kind in ("W", "b"))


def _nonpointwise(spec: Spec) -> tuple[str, ...]:
    """The activations whose Jacobians have entries off the diagonal."""
    return tuple(
        activation_name(a)
        for a, n in zip(spec.activations, spec.dims[1:], strict=True)
        if not isinstance(a, manualgrad.Pointwise) and a.output_width(n) == n
    )


def _in_notes_convention(run: _Run, spec: Spec) -> Leaves:
    """The candidate's gradient undone to the notes' loss: summed, without decay."""
    L = spec.num_layers
    got = list(run.reading.leaves)
    if spec.weight_decay:
        theta = [np.asarray(W, dtype=np.float64) for W in run.case.theta.W]
        got[:L] = [g - spec.weight_decay * W for g, W in zip(got[:L], theta, strict=True)]
    if spec.reduction == "mean":
        got = [g * spec.rows for g in got]
    return got


def _weight_offset(run: _Run, spec: Spec) -> float | None:
    """c when every W_l is off by exactly c W_l and every b_l is right."""
    L = spec.num_layers
    weights_off = any(r.error > spec.tolerance for r in run.leaves if r.kind == "W")
    if not weights_off or not all(r.ok for r in run.leaves if r.kind == "b"):
        return None
    got, expected = run.reading.leaves[:L], run.expected[:L]
    W = [np.asarray(w, dtype=np.float64) for w in run.case.theta.W]
    c = sum(float(np.vdot(g - e, w)) for g, e, w in zip(got, expected, W, strict=True)) / sum(
        float(np.vdot(w, w)) for w in W
    )
    shifted = [e + c * w for e, w in zip(expected, W, strict=True)]
    if c == 0 or relative_error(got, shifted) > spec.tolerance:
        return None
    return c


def _variants(run: _Run, spec: Spec) -> dict[str, float]:
    """The candidate against the gradient under each other convention that fits."""
    case, got = run.case, run.reading.leaves
    other = "mean" if spec.reduction == "sum" else "sum"
    variants = {
        "reduction": relative_error(
            got, expected_leaves(case.theta, case.X, case.Y, spec, reduction=other)
        )
    }
    labels = targets_as_labels(case.Y, spec)
    if labels is not None:
        variants["labels"] = relative_error(got, expected_leaves(case.theta, case.X, labels, spec))
    if all(n == m for n, m in spec.weight_shapes):
        transposed = Params(tuple(W.T for W in case.theta.W), case.theta.b)
        g = expected_leaves(transposed, case.X, case.Y, spec)
        L = spec.num_layers
        variants["forward_layout"] = relative_error(got, [w.T for w in g[:L]] + g[L:])
    return variants


def _stateful(candidate: Candidate, runs: Sequence[_Run], spec: Spec) -> bool:
    """Whether the candidate answers differently on the same inputs, or stale."""
    first = runs[0]
    note = _note(spec, first.case.seed, "candidate", first.case.inputs)
    try:
        again = read(call(candidate, note, *first.case.inputs), spec)
    except MalformedError:
        return True
    if relative_error(again.leaves, first.reading.leaves) > spec.tolerance:
        return True
    # The same answer to a different problem: only with the expected gradients to tell.
    return any(
        run.expected is not None
        and first.expected is not None
        and relative_error(run.reading.leaves, first.reading.leaves) <= spec.tolerance
        and relative_error(run.expected, first.expected) > spec.tolerance
        for run in runs[1:]
        if not run.gradient_ok
    )


def _observe(run: _Run, spec: Spec, *, stateful: bool) -> Observation:
    """What the rules read; in mode "directional" only what a directional check supplies."""
    seen = dict(
        leaves=run.leaves,
        batch_size=spec.rows,
        activations=tuple(activation_name(a) for a in spec.activations),
        cost=spec.cost.name,
        tolerance=spec.gradient_tolerance,
        nonpointwise=_nonpointwise(spec),
        reduction=spec.reduction,
        weight_decay=spec.weight_decay,
        targets=spec.targets,
        weight_layout=spec.weight_layout,
        batch_layout=spec.batch_layout,
        swapped=run.reading.swapped,
        stateful=stateful,
        loss=run.loss,
    )
    if run.expected is None:
        return Observation(mistakes={}, **seen)
    forward = forward_pass(run.case.theta, run.case.X, run.case.Y, spec.activations, spec.cost)
    mistakes, where = mistake_errors(forward, _in_notes_convention(run, spec))
    return Observation(
        mistakes=mistakes,
        variants=_variants(run, spec),
        mistake_variants=where,
        weight_offset=_weight_offset(run, spec),
        **seen,
    )


@contextlib.contextmanager
def _x64(enabled: bool) -> Iterator[None]:
    if enabled:
        with jax.enable_x64(True):
            yield
    else:
        yield


def _autodiff(spec: Spec) -> OracleReport:
    """Mode "full"'s oracle: jax.grad in float64, which states no error of its own."""
    names = leaf_names(spec.num_layers)
    return OracleReport(
        oracle=AUTODIFF,
        errors=dict.fromkeys(names),
        steps={name: () for name in names},
        lines=(str(AUTODIFF),),
    )


def _run_seed(candidate: Candidate, seed: int, spec: Spec, *, explain_loss: bool) -> _Run:
    __tracebackhide__ = True
    case = draw(seed, spec)
    result = call(candidate, _note(spec, seed, "candidate", case.inputs), *case.inputs)
    reading = read(result, spec)
    loss = None
    if spec.loss is not None:
        note = _note(spec, seed, "loss", case.inputs)
        loss = loss_report(case, reading.leaves, spec, note, explain=explain_loss)
    if spec.used_mode == "directional":
        leaves, oracle = compare_directionally(case, reading, spec)
        return _Run(case, reading, None, leaves, loss, oracle)
    # float64 on the very inputs the candidate saw: a float32 check then
    # measures only the candidate's own rounding.
    expected = expected_leaves(case.theta, case.X, case.Y, spec)
    return _Run(case, reading, expected, _leaves(reading, expected, spec), loss, _autodiff(spec))


def _report(candidate: Candidate, spec: Spec) -> BackpropReport:
    __tracebackhide__ = True
    runs: list[_Run] = []
    for seed in spec.seeds:
        explain = not any(r.loss is not None and not r.loss.value_ok for r in runs)
        try:
            runs.append(_run_seed(candidate, seed, spec, explain_loss=explain))
        except MalformedError as error:
            return _malformed(str(error), seed, runs, spec)
    failing = [r for r in runs if not r.passed]
    bias_forms = list(dict.fromkeys(f for r in runs for f in r.reading.bias_forms()))
    seeds = tuple(r.report() for r in runs)
    options = spec.options()
    if not failing:
        worst = max(seeds, key=lambda s: s.worst.error)
        oracles = [r.oracle for r in runs]
        return BackpropReport(
            passed=True,
            tolerance=spec.gradient_tolerance,
            dtype=spec.dtype,
            options=options,
            seeds=seeds,
            wrong_leaves=(),
            entry_layer=None,
            diagnosis=(),
            reproduction="\n".join(_message.reproduction(spec.seeds[0], spec)),
            message=_message.passed_message(worst.worst, worst.seed, bias_forms, oracles, spec),
            mode=spec.used_mode,
        )
    first = failing[0]
    with jax.enable_x64(True):
        observation = _observe(first, spec, stateful=_stateful(candidate, runs, spec))
    rules = DIRECTIONAL_RULES if first.expected is None else None
    diagnosis = tuple(diagnose(observation, rules=rules))
    message = _message.failure_message(
        observation,
        diagnosis,
        first.oracle,
        seed=first.case.seed,
        gradient_seeds=[r.case.seed for r in runs if r.gradient_wrong],
        unchecked_seeds=[r.case.seed for r in runs if not r.gradient_ok and not r.gradient_wrong],
        loss_seeds=[r.case.seed for r in runs if r.loss is not None and not r.loss.ok],
        bias_forms=bias_forms,
        spec=spec,
    )
    return BackpropReport(
        passed=False,
        tolerance=spec.gradient_tolerance,
        dtype=spec.dtype,
        options=options,
        seeds=seeds,
        wrong_leaves=tuple(r.name for r in observation.wrong),
        entry_layer=observation.entry_layer,
        diagnosis=diagnosis,
        reproduction="\n".join(_message.reproduction(first.case.seed, spec)),
        message=message,
        mode=spec.used_mode,
    )


def _malformed(problem: str, seed: int, runs: Sequence[_Run], spec: Spec) -> BackpropReport:
    return BackpropReport(
        passed=False,
        tolerance=spec.gradient_tolerance,
        dtype=spec.dtype,
        options=spec.options(),
        seeds=(*(r.report() for r in runs), SeedReport(seed, False, ())),
        wrong_leaves=(),
        entry_layer=None,
        diagnosis=(),
        reproduction="\n".join(_message.reproduction(seed, spec)),
        message=_message.malformed_message(problem, seed, spec),
        problem=problem,
        mode=spec.used_mode,
    )


def compare_backprop(
    candidate: Candidate,
    *,
    activations: Sequence[str | Activation],
    cost: str | Cost,
    dims: Sequence[int],
    batch_size: int = 8,
    seeds: Sequence[int] = (0, 1, 2),
    dtype: DTypeLike = "float64",
    targets: str = "probabilities",
    reduction: str = "sum",
    weight_decay: float = 0.0,
    weight_layout: str = "out_in",
    batch_layout: str = "rows",
    data: tuple[ArrayLike, ArrayLike] | None = None,
    loss: Callable[..., Any] | None = None,
    mode: str = "full",
) -> BackpropReport:
    """Compares a hand-written gradient function with jax.grad; returns what it found.

    The same check as :func:`check_backprop`, with the same arguments, but
    the result is a :class:`BackpropReport` (``passed``, the per-seed,
    per-leaf errors, the diagnosis, the message, ``to_dict()``) instead of an
    exception.

    Args:
      candidate, activations, cost, dims, batch_size, seeds, dtype: as for
        :func:`check_backprop`.
      targets, reduction, weight_decay, weight_layout, batch_layout, data, loss:
        the conventions of the candidate, as for :func:`check_backprop`.
      mode: "full", "directional" or "auto", as for :func:`check_backprop`;
        ``report.mode`` is the one the check ran in, and each seed's
        ``oracle`` says what it was compared with.

    Returns:
      The report; ``report.passed`` says whether the candidate is right.

    Raises:
      ValueError: bad arguments (see :func:`check_backprop`).
      TypeError: a candidate that is not callable.
      reference.CandidateError: an AssertionError raised inside the
        candidate (or its loss), chained from it.
      Exception: whatever else the candidate raised, with a note saying on
        which seed and with which arguments and options.
    """
    __tracebackhide__ = True
    if not callable(candidate):
        raise TypeError(f"check_backprop: candidate must be callable, got {candidate!r}")
    spec = make_spec(
        activations,
        cost,
        dims,
        batch_size,
        seeds,
        dtype,
        targets=targets,
        reduction=reduction,
        weight_decay=weight_decay,
        weight_layout=weight_layout,
        batch_layout=batch_layout,
        data=data,
        loss=loss,
        mode=mode,
    )
    with _x64(spec.dtype == "float64"):
        return _report(candidate, spec)


def check_backprop(
    candidate: Candidate,
    *,
    activations: Sequence[str | Activation],
    cost: str | Cost,
    dims: Sequence[int],
    batch_size: int = 8,
    seeds: Sequence[int] = (0, 1, 2),
    dtype: DTypeLike = "float64",
    targets: str = "probabilities",
    reduction: str = "sum",
    weight_decay: float = 0.0,
    weight_layout: str = "out_in",
    batch_layout: str = "rows",
    data: tuple[ArrayLike, ArrayLike] | None = None,
    loss: Callable[..., Any] | None = None,
    mode: str = "full",
) -> None:
    """Checks a hand-written gradient function against jax.grad.

    **By default the batch loss is the SUM of the rows' losses** (the notes'
    extended cost), not their mean: the candidate returns the gradient of
    sum_i C(F_theta(X[i]), Y[i]). The options below describe other
    conventions; with their defaults the check is the notes' own.

    For each seed the checker draws theta with ``manualgrad.init_params``, a
    batch X and targets Y that the cost is defined on (see
    :func:`reference.draw_case`), calls ``candidate(theta, X, Y)`` and
    compares each W_l and b_l with :func:`reference.grad` computed in float64
    on the same inputs (``mode="directional"``: with difference quotients
    along random directions). float64 is enabled for the duration of a
    float64 check, so nothing needs configuring.

    Args:
      candidate: ``candidate(theta, X, Y)`` with theta a ``manualgrad.Params``
        (``theta.W[l-1]`` is W_l of shape (n_l, m_{l-1}), ``theta.b[l-1]`` is
        b_l of shape (n_l,)), X of shape (N, n_0) and Y of shape (N, m_L), all
        JAX arrays (a NumPy implementation converts with ``np.asarray``).
        Returns the gradient as ``Params`` or as a list of (W_l, b_l) pairs,
        NumPy or JAX arrays shaped like theta's (a b_l may also be (n_l, 1)
        or (1, n_l)).
      activations: sigma_1..sigma_L, names or manualgrad activations.
      cost: a name ("mse" = 1/2 ||y_hat - y||^2, "cross_entropy",
        "binary_cross_entropy", "huber") or a manualgrad cost.
      dims: (n_0, n_1, ..., n_L).
      batch_size: N, the rows of each drawn batch (ignored with ``data``).
      seeds: one random network and batch per seed.
      dtype: "float64" (tolerance 1e-10) or "float32" (1e-5), relative.
      targets: "probabilities" (Y of shape (N, m_L)) or "labels": for
        cross_entropy, Y as integer class indices of shape (N,) (the reference
        uses their one-hot rows); for binary_cross_entropy, 0/1 targets.
      reduction: "sum" or "mean": the candidate's loss is the mean over rows.
      weight_decay: lam >= 0; the candidate's loss adds
        (lam / 2) sum_l ||W_l||_F^2 (biases are not decayed).
      weight_layout: "out_in" or "in_out": theta's W_l reach the candidate
        transposed, (m_{l-1}, n_l), and their gradients are expected so.
      batch_layout: "rows" or "columns": X reaches the candidate as
        (n_0, N) and Y as (m_L, N) (labels stay (N,)).
      data: the candidate's own batch (X, Y), in its layout and targets, in
        place of the drawn ones; theta is still drawn per seed.
      loss: the candidate's own loss ``loss(theta, X, Y) -> float`` (arguments
        as the candidate's): its value must be the declared cost's, and the
        candidate's gradient is also checked against float64 central
        differences of it (entry by entry, whatever the mode).
      mode: "full" (the default): every entry against :func:`reference.grad`
        (autodiff, float64), with the whole diagnosis. "directional": each
        leaf against float64 difference quotients of the reference loss along
        random directions (:func:`reference.directional_check`, seeded by the
        seed; tolerance ``reference.FINITE_DIFFERENCE_TOLERANCE`` = 1e-6, or
        the dtype's where larger), which trusts no autodiff and costs the same
        few hundred forward passes whatever the parameter count; a failing
        leaf of at most ``reference.directional.AUTO_FULL_LEAF_AT_MOST``
        (2,048) entries is then differenced entry by entry to name its worst
        element, and the diagnosis is what that supports (the wrong leaves,
        where the mistake enters, a bias-only mistake). "auto": directional
        above ``reference.directional.AUTO_DIRECTIONAL_ABOVE`` (20,000)
        parameters, full at or below it.

    Returns:
      None when the candidate agrees with jax.grad (mode "directional": with
      the difference quotients) on every seed.

    Raises:
      AssertionError: the candidate's gradient (or loss) is wrong or
        malformed, or (mode "directional") a leaf could not be compared, a
        kink within reach of every step; the message names the wrong W_l /
        b_l, the worst element, the seed and how to reproduce it, what
        compared them, and a diagnosis.
      ValueError: the arguments describe no valid check (an unknown
        activation, cost, mode or option value, dims and activations of
        different lengths, a cost undefined on the output activation's range,
        labels for a cost without labels, data of the wrong shape).
      reference.CandidateError: an AssertionError raised inside the
        candidate, so that a crash never reads as a verdict.
    """
    __tracebackhide__ = True
    report = compare_backprop(
        candidate,
        activations=activations,
        cost=cost,
        dims=dims,
        batch_size=batch_size,
        seeds=seeds,
        dtype=dtype,
        targets=targets,
        reduction=reduction,
        weight_decay=weight_decay,
        weight_layout=weight_layout,
        batch_layout=batch_layout,
        data=data,
        loss=loss,
        mode=mode,
    )
    if not report.passed:
        raise AssertionError(report.message)
