"""The result of a check as data: :class:`BackpropReport`, one :class:`SeedReport` per seed.

:func:`reference.compare_backprop` returns it; :func:`reference.check_backprop`
raises its :attr:`~BackpropReport.message` when it did not pass.
``to_dict()`` is JSON-ready (for a CI summary or a grade book): tuples become
lists, and a non-finite number becomes the string "inf", "-inf" or "nan".
Each seed records its :class:`OracleReport`: what it was compared with
(autodiff in mode "full", directional differences in mode "directional"),
the steps and the oracle's own error per leaf.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from reference.checker.observations import LeafReport, LossReport
from reference.finite_differences import Oracle

__all__ = ["BackpropReport", "FullLeaf", "OracleReport", "SeedReport"]


def _number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def _oracle_dict(oracle: Oracle) -> dict[str, Any]:
    return {
        "kind": oracle.kind,
        "steps": list(oracle.steps),
        "order": oracle.order,
        "description": str(oracle),
    }


@dataclasses.dataclass(frozen=True)
class FullLeaf:
    """A leaf that failed a directional check, compared entry by entry to find its worst element.

    Attributes:
      oracle: what computed the leaf: float64 central differences
        (:func:`reference.numerical_leaf`).
      relative_error: the candidate's leaf against them, over the entries
        compared.
      error: the differences' own error bound, relative in the same measure
        (the largest finite entry bound over the leaf's largest |entry|).
      undetermined: the entries whose bound is inf, at a kink, not compared
        ("b_1[3]", ...).
    """

    oracle: Oracle
    relative_error: float
    error: float
    undetermined: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "oracle": _oracle_dict(self.oracle),
            "relative_error": _number(self.relative_error),
            "error": _number(self.error),
            "undetermined": list(self.undetermined),
        }


@dataclasses.dataclass(frozen=True)
class OracleReport:
    """What one seed's gradient was compared with: the oracle, its steps, its own error.

    Attributes:
      oracle: the oracle (:class:`reference.Oracle`): kind "autodiff" (mode
        "full": :func:`reference.grad` in float64) or "directional"
        (:func:`reference.directional_check`), its steps and order.
      errors: leaf name -> the oracle's own error bound, relative in the
        measure of the leaf's error; None for autodiff, which states none (it
        is exact to float64 rounding).
      steps: leaf name -> the base step each of the leaf's directions used;
        () for autodiff.
      not_compared: leaf name -> why it could not be compared (a kink within
        reach of every step).
      directions: random directions per leaf; 0 for autodiff.
      forward_passes: the forward passes the difference quotients took; 0 for
        autodiff.
      full: leaf name -> its entry-by-entry comparison, for each failing leaf
        of at most ``reference.directional.AUTO_FULL_LEAF_AT_MOST`` entries.
      too_large: the failing leaves with more entries than that, not compared
        entry by entry.
      lines: the oracle's own account, as the message prints it (the lines of
        ``str(DirectionalReport)``).
    """

    oracle: Oracle
    errors: Mapping[str, float | None]
    steps: Mapping[str, tuple[float, ...]]
    not_compared: Mapping[str, str] = dataclasses.field(default_factory=dict)
    directions: int = 0
    forward_passes: int = 0
    full: Mapping[str, FullLeaf] = dataclasses.field(default_factory=dict)
    too_large: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """The oracle's kind: "autodiff" or "directional"."""
        return self.oracle.kind

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            **_oracle_dict(self.oracle),
            "errors": {k: None if v is None else _number(v) for k, v in self.errors.items()},
            "leaf_steps": {k: list(v) for k, v in self.steps.items()},
            "not_compared": dict(self.not_compared),
            "directions": self.directions,
            "forward_passes": self.forward_passes,
            "full": {k: v.to_dict() for k, v in self.full.items()},
            "too_large": list(self.too_large),
        }


def _leaf_dict(r: LeafReport) -> dict[str, Any]:
    return {
        "name": r.name,
        "shape": list(r.shape),
        "relative_error": _number(r.error),
        "ok": r.ok,
        "worst_index": list(r.index),
        "expected": _number(r.expected),
        "got": _number(r.got),
        "factor": None if r.factor is None or not r.shows_factor else _number(r.factor),
        "transposed": r.transposed,
        "returned": r.returned or None,
        "expected_zero": r.zero,
        "not_compared": r.not_compared or None,
    }


def _loss_dict(loss: LossReport) -> dict[str, Any]:
    return {
        "value": _number(loss.got),
        "declared_value": _number(loss.expected),
        "value_ok": loss.value_ok,
        "matches": list(loss.matches),
        "gradient_errors": {k: _number(v) for k, v in loss.gradient_errors.items()},
        "gradient_tolerance": loss.gradient_tolerance,
        "gradient_ok": loss.gradient_ok,
    }


@dataclasses.dataclass(frozen=True)
class SeedReport:
    """One seed of a check.

    Attributes:
      seed: the seed.
      passed: whether every leaf (and the loss, with ``loss=``) is right.
      leaves: a LeafReport for each of W_1, b_1, ..., W_L, b_L (name, shape as
        returned, relative_error, worst_index, expected, got); empty when the
        result could not be read.
      loss: the candidate's own loss on this seed, with ``loss=``.
      oracle: what the leaves were compared with; None when the result could
        not be read.
    """

    seed: int
    passed: bool
    leaves: tuple[LeafReport, ...]
    loss: LossReport | None = None
    oracle: OracleReport | None = None

    @property
    def worst(self) -> LeafReport | None:
        """The compared leaf with the largest relative error."""
        compared = [r for r in self.leaves if not r.not_compared]
        return max(compared, key=lambda r: r.error, default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "seed": self.seed,
            "passed": self.passed,
            "leaves": [_leaf_dict(r) for r in self.leaves],
            "loss": None if self.loss is None else _loss_dict(self.loss),
            "oracle": None if self.oracle is None else self.oracle.to_dict(),
        }


@dataclasses.dataclass(frozen=True)
class BackpropReport:
    """What :func:`reference.compare_backprop` found.

    Attributes:
      passed: whether the candidate agrees on every seed.
      tolerance: the relative tolerance the gradient was held to: the
        dtype's in mode "full"; in mode "directional"
        FINITE_DIFFERENCE_TOLERANCE, or the dtype's where that is larger.
      dtype: "float32" or "float64".
      options: every option of the check, defaults included (``mode`` as
        asked for, "auto" included).
      seeds: one SeedReport per seed checked (up to the one whose result
        could not be read, if any).
      wrong_leaves: the names of the wrong leaves of the first failing seed.
      entry_layer: where the mistake enters (the outermost wrong layer), or None.
      diagnosis: (rule, finding) pairs, in the order reported.
      reproduction: Python code that rebuilds the first failing seed's inputs
        and expected gradient (the first seed's when it passed).
      message: the report as text; the AssertionError of check_backprop.
      problem: why the candidate's result could not be read, or None.
      mode: the mode the check ran in, "full" or "directional" (``mode="auto"``
        resolved by the parameter count).
    """

    passed: bool
    tolerance: float
    dtype: str
    options: Mapping[str, Any]
    seeds: tuple[SeedReport, ...]
    wrong_leaves: tuple[str, ...]
    entry_layer: int | None
    diagnosis: tuple[tuple[str, str], ...]
    reproduction: str
    message: str
    problem: str | None = None
    mode: str = "full"

    @property
    def failing_seeds(self) -> tuple[int, ...]:
        """The seeds that did not pass."""
        return tuple(s.seed for s in self.seeds if not s.passed)

    @property
    def rules(self) -> tuple[str, ...]:
        """The names of the rules in the diagnosis."""
        return tuple(rule for rule, _ in self.diagnosis)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready dicts, lists, strings and numbers."""
        return {
            "passed": self.passed,
            "tolerance": self.tolerance,
            "dtype": self.dtype,
            "options": dict(self.options),
            "seeds": [s.to_dict() for s in self.seeds],
            "failing_seeds": list(self.failing_seeds),
            "wrong_leaves": list(self.wrong_leaves),
            "entry_layer": self.entry_layer,
            "diagnosis": [{"rule": rule, "text": text} for rule, text in self.diagnosis],
            "problem": self.problem,
            "mode": self.mode,
            "reproduction": self.reproduction,
            "message": self.message,
        }
