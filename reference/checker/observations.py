"""What the diagnosis rules read: how each leaf compares, and the network it belongs to.

An :class:`Observation` is everything the rules of :mod:`reference.checker.rules`
see of one failing seed; each rule is a pure function of it, so a rule can be
exercised on a hand-made observation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from reference.tolerances import relative_error

__all__ = ["LeafReport", "Observation", "leaf_report"]


@dataclasses.dataclass(frozen=True)
class LeafReport:
    """How one gradient leaf (W_l or b_l) compares with the reference.

    Attributes:
      name: "W_l" or "b_l", 1-based as in the notes.
      layer: l.
      error: the relative error (reference.relative_error's measure).
      ok: whether ``error`` is within the tolerance.
      factor: f when the candidate's leaf is f times the expected one
        (within the tolerance), else None. Always None for a zero leaf.
      transposed: whether a square W_l's gradient came back transposed.
      index: the worst element's index.
      expected: the expected value there.
      got: the candidate's value there.
    """

    name: str
    layer: int
    error: float
    ok: bool
    factor: float | None = None
    transposed: bool = False
    index: tuple[int, ...] = ()
    expected: float = 0.0
    got: float = 0.0

    @property
    def kind(self) -> str:
        """ "W" or "b"."""
        return self.name[0]


@dataclasses.dataclass(frozen=True)
class Observation:
    """Everything the diagnosis rules see of one failing seed.

    Attributes:
      leaves: a LeafReport for each of W_1, b_1, ..., W_L, b_L.
      batch_size: N.
      activations: the names of sigma_1..sigma_L.
      cost: the cost's name.
      mistakes: for each classic mistake of
        :data:`reference.checker.MISTAKES` that applies to this network, the
        relative error of the candidate against backprop with that mistake
        planted; within the tolerance means it matches.
      tolerance: the dtype's tolerance.
      nonpointwise: the names of the network's activations that are not
        pointwise but map R^n to R^n, so that their Jacobians have entries
        off the diagonal (softmax, radial sigmoid, an activation of your own).
    """

    leaves: tuple[LeafReport, ...]
    batch_size: int
    activations: tuple[str, ...]
    cost: str
    mistakes: Mapping[str, float]
    tolerance: float
    nonpointwise: tuple[str, ...] = ()

    @property
    def num_layers(self) -> int:
        """L."""
        return len(self.activations)

    def leaf(self, name: str) -> LeafReport:
        """The report of the leaf called ``name``, e.g. "W_2"."""
        return next(r for r in self.leaves if r.name == name)

    @property
    def wrong(self) -> tuple[LeafReport, ...]:
        """The leaves outside the tolerance."""
        return tuple(r for r in self.leaves if not r.ok)

    @property
    def entry_layer(self) -> int | None:
        """The outermost (highest l) layer with a wrong leaf: where the mistake enters.

        Backprop runs from layer L down and each layer's gradients depend only
        on the layers above, so the first wrong layer met on the way down is
        where the mistake is made; the layers below it inherit it.
        """
        return max((r.layer for r in self.wrong), default=None)

    def matches(self, mistake: str) -> bool:
        """Whether the candidate equals backprop with ``mistake`` planted."""
        return mistake in self.mistakes and self.mistakes[mistake] <= self.tolerance

    def common_factor(self) -> float | None:
        """f when every nonzero leaf is off by the same factor f (to 3 digits)."""
        factors = [r.factor for r in self.leaves if not (r.ok and r.factor is None)]
        if not factors or any(f is None for f in factors):
            return None
        first = factors[0]
        if all(math.isclose(f, first, rel_tol=1e-3) for f in factors) and not math.isclose(
            first, 1.0, rel_tol=1e-3
        ):
            return first
        return None


def named_factors(batch_size: int) -> list[float]:
    """The factors that name a mistake (sign, mean vs sum, the MSE 1/2), for N rows."""
    return [-1.0, 1.0 / batch_size, float(batch_size), 2.0, 0.5, -1.0 / batch_size]


def leaf_report(
    name: str,
    got: np.ndarray,
    expected: np.ndarray,
    error: float,
    *,
    tolerance: float,
    batch_size: int,
) -> LeafReport:
    """The report of one leaf whose relative error (among all leaves) is ``error``.

    Args:
      name: "W_l" or "b_l".
      got: the candidate's leaf, float64.
      expected: the reference's leaf, same shape.
      error: the leaf's relative error.
      tolerance: the dtype's tolerance.
      batch_size: N, for the factors that name a mistake.

    Returns:
      The leaf's report: its error, worst element, factor and orientation.
    """
    difference = np.abs(got - expected)
    index = tuple(int(i) for i in np.unravel_index(np.argmax(difference), difference.shape))
    factor = None
    if np.any(expected != 0) and error > 0:
        for f in named_factors(batch_size):
            if relative_error([got], [f * expected]) <= tolerance:
                factor = f
                break
        else:
            fit = float(np.vdot(got, expected) / np.vdot(expected, expected))
            if fit != 0 and relative_error([got], [fit * expected]) <= tolerance:
                factor = fit
    transposed = (
        name.startswith("W")
        and got.shape[0] == got.shape[1]
        and error > tolerance
        and relative_error([got], [expected.T]) <= tolerance
    )
    return LeafReport(
        name=name,
        layer=int(name.split("_")[1]),
        error=error,
        ok=error <= tolerance,
        factor=factor,
        transposed=bool(transposed),
        index=index,
        expected=float(expected[index]),
        got=float(got[index]),
    )
