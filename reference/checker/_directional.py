"""mode="directional": one seed's gradient against directional differences, leaf by leaf.

The oracle is :func:`reference.directional.directional_derivatives`, seeded
by the case's seed, on the very numbers mode "full" hands to
:func:`reference.grad`: the case's theta and X in the notes' layout and the
reference's targets Y (one-hot rows for class labels), differenced in
float64. The candidate's result is read as in mode "full"
(:func:`reference.checker._results.read`: W_l in the notes' layout, biases
as vectors, float64) and compared with the quotients by
:meth:`~reference.directional.DirectionalDerivatives.compare`; a leaf is
wrong when that report says so. A failing leaf of at most
:data:`~reference.directional.AUTO_FULL_LEAF_AT_MOST` entries is then
differenced entry by entry (:func:`reference.numerical_leaf`, float64 central
differences) to name its worst element; an entry whose error bound is inf is
at a kink and is not compared.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from manualgrad import Params
from reference.checker._arguments import Spec
from reference.checker._cases import Case, leaf_names
from reference.checker._results import Reading
from reference.checker.observations import LeafReport, factor_of, named_factors
from reference.checker.report import FullLeaf, OracleReport
from reference.directional import (
    AUTO_FULL_LEAF_AT_MOST,
    DirectionalDerivatives,
    DirectionalReport,
    directional_derivatives,
)
from reference.finite_differences import numerical_leaf, undetermined_entries
from reference.tolerances import leaf_relative_errors, relative_error

__all__ = ["compare_directionally"]


def _in_candidates_convention(oracle: DirectionalDerivatives, spec: Spec) -> DirectionalDerivatives:
    """The quotients as derivatives of the candidate's loss: mean and weight decay applied.

    The oracle differences the reference loss, the sum over rows without
    decay. The candidate's loss is (1/N) sum (reduction="mean") plus
    (lam / 2) sum_l ||W_l||^2, whose derivative along the direction u taken
    is D / N + lam <W_l, u>: exact, since the decay is quadratic, so its
    central difference along u is lam <W_l, u> whatever the step. Transforming
    the quotients, rather than undoing the candidate ((g - lam W) N), keeps
    the measure of mode "full" (relative to the candidate's own gradient) and
    does not magnify the candidate's rounding where lam W_l dominates g.
    """
    values, errors = oracle.values, oracle.errors
    if spec.reduction == "mean":
        values, errors = values / spec.rows, errors / spec.rows
    if spec.weight_decay:
        # <W_l, u_k> for each direction actually taken: the projections of
        # theta's weights (biases zero) that compare() forms, rounding as it does.
        weights = Params(oracle.theta.W, tuple(np.zeros_like(b) for b in oracle.theta.b))
        projected = oracle.compare(weights).projections
        values = values.copy()
        for i, name in enumerate(oracle.names):
            if name.startswith("W"):
                decay = spec.weight_decay * np.asarray(projected[name])
                values[i, oracle.found[i]] += decay
    return dataclasses.replace(oracle, values=values, errors=errors)


@dataclasses.dataclass(frozen=True)
class _InFull:
    """A leaf compared entry by entry: the expected leaf, which entries count, the record."""

    expected: np.ndarray
    determined: np.ndarray
    record: FullLeaf


def _in_full(name: str, got: np.ndarray, case: Case, spec: Spec) -> _InFull:
    """``name`` by float64 central differences, in the candidate's convention."""
    numerical = numerical_leaf(case.theta, case.X, case.Y, spec.activations, spec.cost, name)
    expected, bound = np.asarray(numerical.grad), np.asarray(numerical.error)
    if spec.reduction == "mean":
        expected, bound = expected / spec.rows, bound / spec.rows
    if spec.weight_decay and name.startswith("W"):
        W = np.asarray(case.theta.W[int(name.split("_")[1]) - 1], dtype=np.float64)
        expected = expected + spec.weight_decay * W
    determined = np.isfinite(bound)
    error, own = math.nan, math.nan
    if determined.any():
        (error,) = leaf_relative_errors([got[determined]], [expected[determined]])
        scale = float(np.max(np.abs(expected[determined])))
        own = float(np.max(bound[determined])) / scale if scale > 0 else math.inf
    record = FullLeaf(numerical.oracle, error, own, undetermined_entries(bound, leaf=name))
    return _InFull(expected, determined, record)


def _worst(got: np.ndarray, full: _InFull, error: float, spec: Spec) -> dict[str, Any]:
    """The LeafReport fields that the entry-by-entry comparison gives: the worst element."""
    g, e = got[full.determined], full.expected[full.determined]
    difference = np.where(full.determined, np.abs(got - full.expected), -1.0)
    index = tuple(int(i) for i in np.unravel_index(np.argmax(difference), difference.shape))
    tolerance = spec.gradient_tolerance
    square = got.ndim == 2 and got.shape[0] == got.shape[1]
    transposed = (
        square
        and bool(full.determined.all())
        and relative_error([got], [full.expected.T]) <= tolerance
    )
    return {
        "factor": factor_of(g, e, error, tolerance=tolerance, named=named_factors(spec.rows)),
        "transposed": transposed,
        "index": index,
        "expected": float(full.expected[index]),
        "got": float(got[index]),
        "zero": not np.any(e),
        "shows_factor": int(np.count_nonzero(e)) >= 2,
    }


def _leaf(
    name: str,
    got: np.ndarray,
    report: DirectionalReport,
    reading: Reading,
    full: _InFull | None,
    spec: Spec,
) -> LeafReport:
    layer = int(name.split("_")[1])
    returned = "swapped" if layer in reading.swapped else ""
    if name in reading.transposed:
        returned = "transposed"
    error = report.errors[name]
    worst: dict[str, Any] = {"expected": math.nan, "got": math.nan}
    if full is not None and full.determined.any():
        worst = _worst(got, full, error, spec)
    transposed = returned == "transposed" or worst.pop("transposed", False)
    return LeafReport(
        name=name,
        layer=layer,
        error=error,
        ok=name not in report.failing and name not in report.not_compared and not returned,
        transposed=transposed,
        shape=reading.shapes[name],
        returned=returned,
        not_compared=report.not_compared.get(name, ""),
        **worst,
    )


def compare_directionally(
    case: Case, reading: Reading, spec: Spec
) -> tuple[tuple[LeafReport, ...], OracleReport]:
    """The leaves of one seed, as W_1, b_1, ..., W_L, b_L, and what they were compared with.

    Args:
      case: the seed's problem.
      reading: the candidate's result, read.
      spec: the check.
    """
    L = spec.num_layers
    oracle = directional_derivatives(
        case.theta, case.X, case.Y, spec.activations, spec.cost, seed=case.seed
    )
    got = Params(tuple(reading.leaves[:L]), tuple(reading.leaves[L:]))
    report = _in_candidates_convention(oracle, spec).compare(got, tolerance=spec.gradient_tolerance)
    names = leaf_names(L)
    leaves = dict(zip(names, reading.leaves, strict=True))
    small = [n for n in report.failing if leaves[n].size <= AUTO_FULL_LEAF_AT_MOST]
    full = {n: _in_full(n, leaves[n], case, spec) for n in small}
    reports = {n: _leaf(n, leaves[n], report, reading, full.get(n), spec) for n in names}
    oracle_report = OracleReport(
        oracle=report.oracle,
        errors=dict(report.oracle_errors),
        steps=dict(report.steps),
        not_compared=dict(report.not_compared),
        directions=report.directions,
        forward_passes=report.forward_passes,
        full={n: f.record for n, f in full.items()},
        too_large=tuple(n for n in report.failing if n not in small),
        lines=tuple(report.lines()),
    )
    layers = range(1, L + 1)
    return tuple(reports[f"{kind}_{l}"] for l in layers for kind in ("W", "b")), oracle_report
