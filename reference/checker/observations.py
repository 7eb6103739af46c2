"""What the diagnosis rules read: how each leaf compares, and what else the check saw.

An :class:`Observation` is everything the rules of :mod:`reference.checker.rules`
see of one failing seed; each rule is a pure function of it, so a rule can be
exercised on a hand-made observation.

The measure is :func:`reference.leaf_relative_errors`' (the largest absolute
difference over the leaf's largest expected entry), except for a leaf whose
expected gradient is zero (a dead relu layer): it is measured against the
network's gradient scale, the largest expected entry of any leaf, so that its
error reads as a fraction of the gradient rather than of a floor.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from reference.tolerances import leaf_relative_errors, relative_error

__all__ = [
    "LeafReport",
    "LossReport",
    "Observation",
    "factor_of",
    "leaf_errors",
    "leaf_report",
    "named_factors",
    "worst_index",
]


@dataclasses.dataclass(frozen=True)
class LeafReport:
    """How one gradient leaf (W_l or b_l) compares with the reference.

    Attributes:
      name: "W_l" or "b_l", 1-based as in the notes.
      layer: l.
      error: the relative error (see the module docstring).
      ok: whether ``error`` is within the tolerance and the leaf came back
        where and how it belongs.
      factor: f when the candidate's leaf is f times the expected one
        (within the tolerance), else None. Always None for a zero leaf.
      transposed: whether W_l's gradient came back transposed: a square
        one by its values, another by its shape.
      index: the worst element's index; () where no entry was compared
        (mode="directional": only a failing leaf compared entry by entry has
        one).
      expected: the expected value there (NaN where none was compared).
      got: the candidate's value there (NaN where none was compared).
      shape: the shape the candidate returned the leaf in.
      returned: how the leaf came back when not as it belongs ("transposed",
        "swapped" with its pair's other leaf), else ""; its error is then
        that of the values put back in place.
      zero: whether the expected leaf is all zero (measured against the
        network's gradient scale).
      shows_factor: whether the leaf has enough nonzero entries (two) for a
        factor to mean anything on its own.
      not_compared: why the leaf could not be compared (a directional check
        finds a kink within reach of every step), else ""; its error is then
        NaN and it is neither right nor wrong.
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
    shape: tuple[int, ...] = ()
    returned: str = ""
    zero: bool = False
    shows_factor: bool = True
    not_compared: str = ""

    @property
    def kind(self) -> str:
        """ "W" or "b"."""
        return self.name[0]

    @property
    def relative_error(self) -> float:
        """The relative error, :attr:`error`."""
        return self.error

    @property
    def worst_index(self) -> tuple[int, ...]:
        """The worst element's index, :attr:`index`."""
        return self.index


@dataclasses.dataclass(frozen=True)
class LossReport:
    """The candidate's own loss (``loss=``) on one seed.

    Attributes:
      got: its value.
      expected: the declared cost's value (reduction and weight decay included).
      tolerance: the relative tolerance of the value.
      gradient_errors: leaf name -> relative error of the candidate's gradient
        against float64 central differences of its loss.
      gradient_tolerance: the tolerance of that comparison.
      matches: what gives the candidate's value where the declared cost does
        not ("cost='binary_cross_entropy'", "sigma_2 = 'sigmoid'", ...).
    """

    got: float
    expected: float
    tolerance: float
    gradient_errors: Mapping[str, float]
    gradient_tolerance: float
    matches: tuple[str, ...] = ()

    @property
    def value_ok(self) -> bool:
        """Whether the candidate's loss is the declared cost's."""
        return abs(self.got - self.expected) <= self.tolerance * max(abs(self.expected), 1e-300)

    @property
    def gradient_error(self) -> float:
        """The worst leaf's error against central differences of the loss."""
        return max(self.gradient_errors.values(), default=0.0)

    @property
    def gradient_ok(self) -> bool:
        """Whether the candidate's gradient is the gradient of its own loss."""
        return self.gradient_error <= self.gradient_tolerance

    @property
    def ok(self) -> bool:
        """Both."""
        return self.value_ok and self.gradient_ok


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
        planted (its best variant); within the tolerance means it matches.
      tolerance: the tolerance the gradient is held to: the dtype's (mode
        "full"), or the directional check's (mode "directional").
      nonpointwise: the names of the network's activations that are not
        pointwise but map R^n to R^n, so that their Jacobians have entries
        off the diagonal (softmax, radial sigmoid, an activation of your own).
      reduction: "sum" or "mean", the declared reduction over rows.
      weight_decay: the declared lam.
      targets: "probabilities" or "labels".
      weight_layout: "out_in" or "in_out".
      batch_layout: "rows" or "columns".
      variants: for another convention than the declared one, the relative
        error of the candidate against the gradient under it: "reduction"
        (the other reduction), "labels" (targets read as labels off the
        probability rows), "forward_layout" (the forward pass with every W_l
        read in the other layout).
      mistake_variants: mistake -> the description of its best variant, for
        mistakes planted in several ways (e.g. "at the output layer L = 2").
      weight_offset: c when every W_l is off by exactly c W_l (c != 0) while
        every b_l is right, else None.
      swapped: the layers whose pair came back as (b_l, W_l).
      stateful: whether the candidate answered differently on the same inputs.
      loss: the candidate's own loss on this seed, with ``loss=``.
    """

    leaves: tuple[LeafReport, ...]
    batch_size: int
    activations: tuple[str, ...]
    cost: str
    mistakes: Mapping[str, float]
    tolerance: float
    nonpointwise: tuple[str, ...] = ()
    reduction: str = "sum"
    weight_decay: float = 0.0
    targets: str = "probabilities"
    weight_layout: str = "out_in"
    batch_layout: str = "rows"
    variants: Mapping[str, float] = dataclasses.field(default_factory=dict)
    mistake_variants: Mapping[str, str] = dataclasses.field(default_factory=dict)
    weight_offset: float | None = None
    swapped: tuple[int, ...] = ()
    stateful: bool = False
    loss: LossReport | None = None

    @property
    def num_layers(self) -> int:
        """L."""
        return len(self.activations)

    def leaf(self, name: str) -> LeafReport:
        """The report of the leaf called ``name``, e.g. "W_2"."""
        return next(r for r in self.leaves if r.name == name)

    @property
    def wrong(self) -> tuple[LeafReport, ...]:
        """The leaves outside the tolerance or out of place (of those compared)."""
        return tuple(r for r in self.leaves if not r.ok and not r.not_compared)

    @property
    def not_compared(self) -> tuple[LeafReport, ...]:
        """The leaves that could not be compared (at a kink, mode="directional")."""
        return tuple(r for r in self.leaves if r.not_compared)

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

    def matches_variant(self, variant: str) -> bool:
        """Whether the candidate equals the gradient under the other convention ``variant``."""
        return variant in self.variants and self.variants[variant] <= self.tolerance

    def common_factor(self) -> float | None:
        """f when every nonzero leaf is off by the same factor f (to 3 digits).

        At least one of them must have entries enough to show a factor.
        """
        off = [r for r in self.leaves if not (r.ok and r.factor is None)]
        factors = [r.factor for r in off]
        if not factors or any(f is None for f in factors) or not any(r.shows_factor for r in off):
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


def leaf_errors(got: Sequence[np.ndarray], expected: Sequence[np.ndarray]) -> list[float]:
    """The relative error of each leaf; a zero leaf against the gradient's scale.

    Args:
      got: the candidate's leaves.
      expected: the reference's leaves, same shapes.

    Returns:
      One error per leaf (see the module docstring). With an all-zero
      expected gradient, the largest absolute entry of each leaf.
    """
    errors = leaf_relative_errors(list(got), list(expected))
    scale = max((float(np.max(np.abs(e), initial=0.0)) for e in expected), default=0.0)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        if not np.any(e):
            largest = float(np.max(np.abs(g), initial=0.0))
            errors[i] = largest / scale if scale > 0 else largest
    return errors


def worst_index(got: np.ndarray, expected: np.ndarray) -> tuple[int, ...]:
    """The index of the largest absolute difference."""
    difference = np.abs(got - expected)
    return tuple(int(i) for i in np.unravel_index(np.argmax(difference), difference.shape))


def factor_of(
    got: np.ndarray,
    expected: np.ndarray,
    error: float,
    *,
    tolerance: float,
    named: Sequence[float] = (),
) -> float | None:
    """f when ``got`` is f times ``expected`` within the tolerance (a named f first), else None.

    Args:
      got: the candidate's leaf.
      expected: the reference's leaf.
      error: their relative error; a leaf that is right has no factor to name.
      tolerance: the relative tolerance of ``got = f expected``.
      named: factors tried first, so that 1/N reads as 1/N.
    """
    if not np.any(expected != 0) or error <= 0:
        return None
    for f in named:
        if relative_error([got], [f * expected]) <= tolerance:
            return f
    fit = float(np.vdot(got, expected) / np.vdot(expected, expected))
    if fit != 0 and relative_error([got], [fit * expected]) <= tolerance:
        return fit
    return None


def leaf_report(
    name: str,
    got: np.ndarray,
    expected: np.ndarray,
    error: float,
    *,
    tolerance: float,
    batch_size: int,
    shape: tuple[int, ...] | None = None,
    returned: str = "",
) -> LeafReport:
    """The report of one leaf whose relative error (among all leaves) is ``error``.

    Args:
      name: "W_l" or "b_l".
      got: the candidate's leaf, float64, in the notes' layout.
      expected: the reference's leaf, same shape.
      error: the leaf's relative error.
      tolerance: the dtype's tolerance.
      batch_size: N, for the factors that name a mistake.
      shape: the shape the candidate returned it in (default: ``got``'s).
      returned: how it came back out of place ("transposed", "swapped"), or "".

    Returns:
      The leaf's report: its error, worst element, factor and orientation.
    """
    index = worst_index(got, expected)
    factor = factor_of(got, expected, error, tolerance=tolerance, named=named_factors(batch_size))
    transposed = returned == "transposed" or (
        name.startswith("W")
        and got.shape[0] == got.shape[1]
        and error > tolerance
        and relative_error([got], [expected.T]) <= tolerance
    )
    return LeafReport(
        name=name,
        layer=int(name.split("_")[1]),
        error=error,
        ok=error <= tolerance and not returned,
        factor=factor,
        transposed=bool(transposed),
        index=index,
        expected=float(expected[index]),
        got=float(got[index]),
        shape=tuple(got.shape) if shape is None else tuple(shape),
        returned=returned,
        zero=not np.any(expected),
        shows_factor=int(np.count_nonzero(expected)) >= 2,
    )
