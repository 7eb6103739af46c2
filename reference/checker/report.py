"""The result of a check as data: :class:`BackpropReport`, one :class:`SeedReport` per seed.

:func:`reference.compare_backprop` returns it; :func:`reference.check_backprop`
raises its :attr:`~BackpropReport.message` when it did not pass.
``to_dict()`` is JSON-ready (for a CI summary or a grade book): tuples become
lists, and a non-finite number becomes the string "inf", "-inf" or "nan".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from reference.checker.observations import LeafReport, LossReport

__all__ = ["BackpropReport", "SeedReport"]


def _number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


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
    """

    seed: int
    passed: bool
    leaves: tuple[LeafReport, ...]
    loss: LossReport | None = None

    @property
    def worst(self) -> LeafReport | None:
        """The leaf with the largest relative error."""
        return max(self.leaves, key=lambda r: r.error, default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "seed": self.seed,
            "passed": self.passed,
            "leaves": [_leaf_dict(r) for r in self.leaves],
            "loss": None if self.loss is None else _loss_dict(self.loss),
        }


@dataclasses.dataclass(frozen=True)
class BackpropReport:
    """What :func:`reference.compare_backprop` found.

    Attributes:
      passed: whether the candidate agrees on every seed.
      tolerance: the relative tolerance of the check's dtype.
      dtype: "float32" or "float64".
      options: every option of the check, defaults included.
      seeds: one SeedReport per seed checked (up to the one whose result
        could not be read, if any).
      wrong_leaves: the names of the wrong leaves of the first failing seed.
      entry_layer: where the mistake enters (the outermost wrong layer), or None.
      diagnosis: (rule, finding) pairs, in the order reported.
      reproduction: Python code that rebuilds the first failing seed's inputs
        and expected gradient (the first seed's when it passed).
      message: the report as text; the AssertionError of check_backprop.
      problem: why the candidate's result could not be read, or None.
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
            "reproduction": self.reproduction,
            "message": self.message,
        }
