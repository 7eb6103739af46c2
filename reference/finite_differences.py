"""An oracle that does not trust autodiff: float64 difference quotients that state their error.

:func:`numerical_grad` differences the loss (the same separately written
forward pass as :func:`reference.grad`, evaluated in float64) parameter by
parameter, two forward passes per parameter and step:

* ``method="central"``: (L(theta + h e_i) - L(theta - h e_i)) / 2h with
  h = :data:`CENTRAL_STEP` = 1e-6 unless ``step`` says otherwise: the
  oracle this project has always used, and a call without the new options
  returns exactly what it always returned. Truncation O(h^2), rounding
  about eps L / h: a relative error near 1e-9.
* ``method="richardson"``: central differences at the
  :data:`RICHARDSON_LEVELS` = 4 steps h_0, h_0/2, h_0/4, h_0/8, combined by
  Richardson extrapolation (a Romberg table of ratio 2) so the h^2, h^4 and
  h^6 terms cancel: the result is exact to O(h_0^8). The base step is
  chosen from float64's epsilon, h_0 = eps^(1/9) rounded up to a power of
  two (:data:`RICHARDSON_STEP` = 2^-5): an O(h^8) truncation against an
  O(eps / h) rounding balance at h ~ eps^(1/9). Each quotient divides by
  the step actually taken, fl(theta_i + h) - fl(theta_i - h). On the smooth
  networks of the test cases it agrees with jax.grad to a relative error of
  about 1e-13 (docs/checker.md has the table).

``return_error=True`` returns a :class:`NumericalGradient`, which unpacks as
``(grad, error)``: ``error`` bounds |grad - true gradient| entry by entry,
the sum of

* the truncation error, read off the table: |D(h) - D(2h)| for central
  differences (three times D(h)'s own h^2 term), and for Richardson the
  larger change between the final extrapolation and the two before it;
* the rounding error: the loss is taken to be accurate to
  :data:`LOSS_ROUNDING_ULPS` units of eps times its scale (the rows' |loss|
  plus their largest |z_L|, which bounds what the log domain cancels), and
  that error divided by each step and weighted as the extrapolation weights
  it; central differences add the rounding of theta_i +- h itself;
* ``inf`` where a kink lies within reach of the step, so that the entry is
  not determined by differences at this point (below).

Kinks are found from the activations' own facts (``near_kink``): for each
parameter, every pre-activation z of every layer and row is evaluated at
each perturbed point, and an entry is not determined when some z lies
within :data:`KINK_MARGIN` times its largest movement of a point where its
activation is not smooth (relu, leaky_relu and elu at 0, hard_tanh at +-1,
a near tie of max_pool, radial_sigmoid's singular point 0), or a Huber
residual within its movement of +-delta. :func:`kinks_at` lists the
pre-activations within reach of a kink for a given step, so a caller can
redraw its inputs; :func:`undetermined_entries` names the entries an error
marks ``inf``.

Every oracle says what it is through an :class:`Oracle`: its kind
(autodiff, central, richardson, directional), its steps and the order of
its truncation error.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterator, Sequence
from typing import Any, Literal, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

import manualgrad
from manualgrad import Activation, Cost, Params, check_inputs
from reference import _forward

__all__ = [
    "AUTODIFF",
    "CENTRAL_STEP",
    "KINK_MARGIN",
    "LOSS_ROUNDING_ULPS",
    "METHODS",
    "RICHARDSON_LEVELS",
    "RICHARDSON_STEP",
    "KinkSite",
    "NumericalGradient",
    "Oracle",
    "any_kink",
    "cost_flags",
    "differences_oracle",
    "extrapolate",
    "extrapolation_weights",
    "kinks_at",
    "leaf_names",
    "loss_scale",
    "numerical_grad",
    "numerical_leaf",
    "preactivations",
    "site_flags",
    "undetermined_entries",
]

#: The machine epsilon of float64, in which every difference is taken.
EPS = float(np.finfo(np.float64).eps)
#: The difference methods of :func:`numerical_grad`.
METHODS = ("central", "richardson")
#: The central-difference step when none is given: the step this oracle has
#: always used (today's calls return today's values). It lies near the float64
#: optimum eps^(1/3) ~ 6e-6 for unit third derivatives.
CENTRAL_STEP = 1e-6
#: Steps in a Richardson table: h_0 / 2^k for k < RICHARDSON_LEVELS.
RICHARDSON_LEVELS = 4
#: The Richardson base step h_0: eps^(1/9) (truncation O(h^8) against
#: rounding O(eps / h)) rounded up to a power of two, 2^-5.
RICHARDSON_STEP = 2.0 ** math.ceil(math.log2(EPS ** (1 / (2 * RICHARDSON_LEVELS + 1))))
#: The loss's assumed rounding error, in units of eps times its scale
#: (:func:`loss_scale`); the observed error is about 1.
LOSS_ROUNDING_ULPS = 8.0
#: A pre-activation is within reach of a kink when the kink lies within this
#: many times its largest movement over the perturbed points.
KINK_MARGIN = 2.0


@dataclasses.dataclass(frozen=True)
class Oracle:
    """What an oracle is: its kind, its steps and the order of its truncation error.

    Attributes:
      kind: "autodiff" (jax.grad), "central", "richardson" (difference
        quotients of the loss, entry by entry) or "directional" (of the loss
        along random directions, :mod:`reference.directional`).
      steps: the steps of the difference quotients, largest first; () for
        autodiff. For a directional check, the base steps it may choose from.
      order: p when the truncation error is O(h^p); None for autodiff.
    """

    kind: Literal["autodiff", "central", "richardson", "directional"]
    steps: tuple[float, ...] = ()
    order: int | None = None

    def __str__(self) -> str:
        if self.kind == "autodiff":
            return "autodiff (jax.grad of the reference forward pass, float64)"
        steps = ", ".join(_format_step(h) for h in self.steps)
        if self.kind == "central":
            return f"central differences, step {steps}, O(h^{self.order})"
        if self.kind == "richardson":
            return (
                f"Richardson extrapolation of central differences at h = {steps}, O(h^{self.order})"
            )
        return (
            f"directional differences along random unit directions, Richardson-extrapolated "
            f"({RICHARDSON_LEVELS} steps from a base step in {steps}), O(h^{self.order})"
        )


def _format_step(h: float) -> str:
    exponent = math.log2(h)
    if exponent == round(exponent) and h < 1:
        return f"2^{int(exponent)}"
    return f"{h:g}"


#: jax.grad, the ground truth the checker and ``manualgrad verify`` compare with.
AUTODIFF = Oracle("autodiff")


@dataclasses.dataclass(frozen=True)
class NumericalGradient:
    """A gradient by differences with its error estimate; unpacks as ``(grad, error)``.

    Attributes:
      grad: the gradient, float64 (Params, or one leaf's array).
      error: an estimate of |grad - true gradient| entry by entry, shaped
        like ``grad``; ``inf`` where a kink lies within reach of the step.
      oracle: what computed it.
    """

    grad: Any
    error: Any
    oracle: Oracle

    def __iter__(self) -> Iterator[Any]:
        return iter((self.grad, self.error))


jax.tree_util.register_dataclass(
    NumericalGradient, data_fields=["grad", "error"], meta_fields=["oracle"]
)


@dataclasses.dataclass(frozen=True)
class KinkSite:
    """A pre-activation within reach of a kink of its activation.

    Attributes:
      layer: l, 1-based: the site is an entry of z_l.
      row: the row of the batch (0 for a single sample).
      index: the entry of z_l.
      activation: sigma_l's name.
    """

    layer: int
    row: int
    index: int
    activation: str

    def __str__(self) -> str:
        return f"z_{self.layer}[{self.row}, {self.index}] ({self.activation})"


def differences_oracle(method: str = "central", step: float | None = None) -> Oracle:
    """The :class:`Oracle` that :func:`numerical_grad` runs for ``method`` and ``step``.

    Raises:
      ValueError: an unknown method or a step that is not a positive number.
    """
    _check_method(method, "reference.differences_oracle")
    steps = _steps(method, step, "reference.differences_oracle")
    return Oracle(method, steps, 2 if method == "central" else 2 * RICHARDSON_LEVELS)  # type: ignore[arg-type]


def _check_method(method: str, where: str) -> None:
    if method not in METHODS:
        raise ValueError(
            f"{where}: method must be one of {', '.join(map(repr, METHODS))}; got {method!r}"
        )


def _steps(method: str, step: float | None, where: str) -> tuple[float, ...]:
    """The steps the method differences at, largest first."""
    number = isinstance(step, (int, float)) and not isinstance(step, bool)
    if step is not None and not (number and 0 < step < math.inf):
        raise ValueError(f"{where}: step must be a positive number or None; got {step!r}")
    if method == "central":
        return (float(step) if step is not None else CENTRAL_STEP,)
    h0 = float(step) if step is not None else RICHARDSON_STEP
    return tuple(h0 / 2**k for k in range(RICHARDSON_LEVELS))


@functools.cache
def extrapolation_weights(levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Richardson's weights on D(h_0 / 2^k): the final extrapolation and the two before it.

    Row k of the table starts at D(h_0 / 2^k); T[k][j] = T[k][j-1] +
    (T[k][j-1] - T[k-1][j-1]) / (4^j - 1) cancels the h^(2j) term. Returns
    the weights of T[K-1][K-1], T[K-1][K-2] and T[K-2][K-2].
    """
    table = [[np.eye(levels)[k]] for k in range(levels)]
    for k in range(1, levels):
        for j in range(1, k + 1):
            previous = table[k][j - 1]
            table[k].append(previous + (previous - table[k - 1][j - 1]) / (4**j - 1))
    if levels == 1:
        return table[0][0], table[0][0], table[0][0]
    return table[-1][-1], table[-1][-2], table[-2][-1]


def extrapolate(
    quotients: jax.Array, steps: ArrayLike, scale: ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """Richardson extrapolation of central differences, with its error estimate.

    Args:
      quotients: D(h_k) on the last axis, for the steps h_k = h_0 / 2^k.
      steps: the h_k, largest first (the last axis of ``quotients``).
      scale: the loss's scale (:func:`loss_scale`); the loss is taken to be
        accurate to LOSS_ROUNDING_ULPS * eps * scale.

    Returns:
      (value, error): the extrapolated derivative and a bound on its error,
      the larger change from the two previous extrapolations plus the
      rounding error that the weights carry over from each quotient.
    """
    levels = quotients.shape[-1]
    final, same_row, row_above = (jnp.asarray(w) for w in extrapolation_weights(levels))
    value = quotients @ final
    truncation = jnp.maximum(
        jnp.abs(quotients @ (final - same_row)), jnp.abs(quotients @ (final - row_above))
    )
    rounding = LOSS_ROUNDING_ULPS * EPS * scale * (jnp.abs(final) @ (1 / jnp.asarray(steps)))
    # The realized steps are known to eps: a relative error of a few eps.
    return value, truncation + rounding + 4 * EPS * jnp.abs(value)


def leaf_names(num_layers: int) -> tuple[str, ...]:
    """The gradient leaves in Params' order: W_1..W_L, then b_1..b_L."""
    layers = range(1, num_layers + 1)
    return tuple(f"W_{l}" for l in layers) + tuple(f"b_{l}" for l in layers)


def loss_scale(
    theta: Params, X: jax.Array, Y: jax.Array, activations: tuple[Activation, ...], cost: Cost
) -> jax.Array:
    """The scale of the loss's rounding: sum over rows of |C| + max |z_L|.

    A row's loss rounds to about eps |C|; in the log domain (softmax with
    cross-entropy) it is a difference of terms as large as z_L, hence the
    second term.
    """
    rows = jax.vmap(lambda x, y: _forward.sample_loss(theta, x, y, activations, cost))(X, Y)
    z_L = jax.vmap(lambda x: _forward.forward(theta, x, activations)[0][-1])(X)
    return jnp.sum(jnp.abs(rows)) + jnp.sum(jnp.max(jnp.abs(z_L), axis=-1))


def preactivations(
    theta: Params, X: jax.Array, activations: tuple[Activation, ...]
) -> tuple[list[jax.Array], jax.Array]:
    """([Z_1..Z_L], A_L) of a batch X (N, n_0), rows first."""
    zs, as_ = jax.vmap(lambda x: _forward.forward(theta, x, activations))(X)
    return list(zs), as_[-1]


def site_flags(
    activations: tuple[Activation, ...], base: Sequence[jax.Array], moved: Sequence[jax.Array]
) -> list[jax.Array]:
    """Which pre-activations lie within reach of a kink of their activation.

    Args:
      activations: sigma_1..sigma_L.
      base: Z_1..Z_L at the point, each (N, n_l).
      moved: Z_1..Z_L at the perturbed points, each (P, N, n_l).

    Returns:
      For each layer an (N, n_l) boolean array: the kink lies within
      KINK_MARGIN times the largest movement of the entry (of its row, for
      an activation that is not pointwise), and the entry moved.
    """
    flags = []
    for act, z, points in zip(activations, base, moved, strict=True):
        movement = jnp.max(jnp.abs(points - z[None]), axis=0)
        if not isinstance(act, manualgrad.Pointwise):
            movement = jnp.max(movement, axis=-1, keepdims=True)
        radius = KINK_MARGIN * movement
        flags.append(act.near_kink(z, radius) & (radius > 0))
    return flags


def cost_flags(cost: Cost, Y: jax.Array, output: jax.Array, moved: jax.Array) -> jax.Array:
    """Which outputs lie within reach of a kink of the cost (``cost.near_kink``).

    Huber's curvature jumps where |y_hat - y| = delta; the other costs are
    smooth where they are defined.

    Args:
      cost: the cost.
      Y: the targets.
      output: A_L at the point, (N, m_L).
      moved: A_L at the perturbed points, (P, N, m_L).

    Returns:
      An (N, m_L) boolean array.
    """
    radius = KINK_MARGIN * jnp.max(jnp.abs(moved - output[None]), axis=0)
    return cost.near_kink(output, Y, radius) & (radius > 0)


def any_kink(
    activations: tuple[Activation, ...],
    cost: Cost,
    Y: jax.Array,
    base: tuple[list[jax.Array], jax.Array],
    moved: tuple[list[jax.Array], jax.Array],
) -> tuple[jax.Array, list[jax.Array]]:
    """Whether a kink lies within reach of the perturbed points, and the sites per layer.

    Args:
      activations, cost: the network's.
      Y: the targets (N, m_L).
      base: :func:`preactivations` at the point.
      moved: :func:`preactivations` at the perturbed points, stacked on a
        leading axis (``jax.vmap`` of it).

    Returns:
      (any site or residual within reach, the per-layer site flags).
    """
    sites = site_flags(activations, base[0], moved[0])
    residuals = cost_flags(cost, Y, base[1], moved[1])
    return jnp.any(residuals) | jnp.any(jnp.stack([jnp.any(f) for f in sites])), sites


@functools.partial(jax.jit, static_argnames=("activations", "cost", "batch_size"))
def _central_differences(theta, x, y, activations, cost, step, batch_size):
    flat, unravel = ravel_pytree(theta)

    def loss_at(v):
        return _forward.loss(unravel(v), x, y, activations, cost)

    def difference(i):
        # (L(theta + h e_i) - L(theta - h e_i)) / 2h
        return (loss_at(flat.at[i].add(step)) - loss_at(flat.at[i].add(-step))) / (2 * step)

    derivative = jax.lax.map(difference, jnp.arange(flat.size), batch_size=batch_size)
    return unravel(derivative)


@functools.partial(
    jax.jit, static_argnames=("activations", "cost", "steps", "realized", "batch_size")
)
def _quotients(
    theta: Params,
    x: jax.Array,
    y: jax.Array,
    indices: jax.Array,
    activations: tuple[Activation, ...],
    cost: Cost,
    steps: tuple[float, ...],
    realized: bool,
    batch_size: int,
) -> tuple[jax.Array, jax.Array]:
    """D(h_k) for each parameter in ``indices`` and step, and whether a kink is within reach.

    ``realized``: divide by the step actually taken, fl(theta_i + h) -
    fl(theta_i - h), instead of 2h.
    """
    flat, unravel = ravel_pytree(theta)
    X, Y = (x, y) if x.ndim == 2 else (x[None], y[None])
    base = preactivations(theta, X, activations)

    offsets = jnp.asarray([sign * h for h in steps for sign in (1, -1)])

    def entry(i):
        ends = flat[i] + offsets  # theta_i + h_0, theta_i - h_0, theta_i + h_1, ...

        def at(end):
            point = unravel(flat.at[i].set(end))
            return _forward.loss(point, x, y, activations, cost), preactivations(
                point, X, activations
            )

        losses, moved = jax.vmap(at)(ends)
        kink, _ = any_kink(activations, cost, Y, base, moved)
        taken = ends[0::2] - ends[1::2] if realized else 2 * offsets[0::2]
        return (losses[0::2] - losses[1::2]) / taken, kink

    return jax.lax.map(entry, indices, batch_size=batch_size)


def _checked64(
    theta: Params,
    x: ArrayLike,
    y: ArrayLike,
    activations: Sequence[str | Activation],
    cost: str | Cost,
    where: str,
) -> tuple[Params, jax.Array, jax.Array, Any]:
    checked = _forward.check(theta, x, y, activations, cost, where)
    as64 = lambda tree: jax.tree_util.tree_map(  # noqa: E731
        lambda v: jnp.asarray(v, dtype=jnp.float64), tree
    )
    # Integer labels stay integers: the reference loss reads -log y_hat[y] by index.
    y64 = checked.y if _forward.is_label(checked.y) else as64(checked.y)
    return as64(checked.theta), as64(checked.x), y64, checked


def _check_batch_size(batch_size: int, where: str) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{where}: batch_size must be a positive integer; got {batch_size!r}")


@functools.partial(
    jax.jit, static_argnames=("activations", "cost", "method", "steps", "batch_size")
)
def _estimate(
    theta: Params,
    x: jax.Array,
    y: jax.Array,
    indices: jax.Array,
    activations: tuple[Activation, ...],
    cost: Cost,
    method: str,
    steps: tuple[float, ...],
    batch_size: int,
) -> tuple[jax.Array, jax.Array]:
    """(value, error) of the parameters in ``indices``: the differences and their bound."""
    flat, _ = ravel_pytree(theta)
    X, Y = (x, y) if x.ndim == 2 else (x[None], y[None])
    scale = loss_scale(theta, X, Y, activations, cost)
    if method == "central":
        # D(h) as always, and D(2h) to read the truncation error off.
        h = steps[0]
        D, kink = _quotients(theta, x, y, indices, activations, cost, (h, 2 * h), False, batch_size)
        value = D[:, 0]
        error = (
            jnp.abs(D[:, 0] - D[:, 1])
            + LOSS_ROUNDING_ULPS * EPS * scale / h
            + EPS * jnp.abs(flat[indices]) * jnp.abs(value) / h
        )
    else:
        D, kink = _quotients(theta, x, y, indices, activations, cost, steps, True, batch_size)
        value, error = extrapolate(D, steps, scale)
    return value, jnp.where(kink, jnp.inf, error)


@overload
def numerical_grad(
    theta: Params,
    x: ArrayLike,
    y: ArrayLike,
    activations: tuple[str | Activation, ...],
    cost: str | Cost,
    *,
    method: str = ...,
    step: float | None = ...,
    return_error: Literal[False] = ...,
    batch_size: int = ...,
) -> Params: ...


@overload
def numerical_grad(
    theta: Params,
    x: ArrayLike,
    y: ArrayLike,
    activations: tuple[str | Activation, ...],
    cost: str | Cost,
    *,
    method: str = ...,
    step: float | None = ...,
    return_error: Literal[True],
    batch_size: int = ...,
) -> NumericalGradient: ...


def numerical_grad(
    theta: Params,
    x: ArrayLike,
    y: ArrayLike,
    activations: tuple[str | Activation, ...],
    cost: str | Cost,
    *,
    method: str = "central",
    step: float | None = None,
    return_error: bool = False,
    batch_size: int = 64,
) -> Params | NumericalGradient:
    """grad_theta L by difference quotients in float64, whatever the input dtype.

    Each parameter entry is perturbed by +-h and the loss (the same
    separately written forward pass as :func:`reference.grad`, evaluated
    with float64 enabled) is differenced; see the module docstring for the
    methods, their steps and their accuracy. Cost: two forward passes per
    parameter and step (one step for central differences, two with
    ``return_error``; four for Richardson), so it suits small networks;
    :func:`reference.directional_check` serves large ones. It composes with
    ``jax.jit`` and ``jax.vmap``.

    Args:
      theta, x, y, activations, cost: as for :func:`reference.grad`.
      method: "central" (the default, as always) or "richardson".
      step: the step h; None for CENTRAL_STEP (1e-6), or for Richardson its
        base step h_0 = RICHARDSON_STEP (2^-5), halved three times.
      return_error: also estimate each entry's error.
      batch_size: perturbations evaluated at once (memory ~ batch_size x params).

    Returns:
      Params of float64 arrays shaped like theta; with ``return_error`` a
      :class:`NumericalGradient` that unpacks as ``(grad, error)``, two
      Params, ``error`` being ``inf`` where a kink is within reach.

    Raises:
      ValueError: an unknown method, a bad step or batch size, or inputs
        that do not fit (see :func:`manualgrad.check_inputs`).
    """
    where = "reference.numerical_grad"
    _check_method(method, where)
    steps = _steps(method, step, where)
    _check_batch_size(batch_size, where)
    with jax.enable_x64(True):
        theta64, x64, y64, checked = _checked64(theta, x, y, activations, cost, where)
        if method == "central" and not return_error:
            return _central_differences(
                theta64, x64, y64, checked.activations, checked.cost, steps[0], batch_size
            )
        flat, unravel = ravel_pytree(theta64)
        indices = jnp.arange(flat.size)
        value, error = _estimate(
            theta64, x64, y64, indices, checked.activations, checked.cost, method, steps, batch_size
        )
        return NumericalGradient(unravel(value), unravel(error), differences_oracle(method, step))


def _leaf_slice(theta: Params, leaf: str, where: str) -> tuple[int, tuple[int, ...]]:
    """Where a leaf's entries start in the flattened theta, and its shape."""
    names = leaf_names(len(theta.W))
    if leaf not in names:
        raise ValueError(f"{where}: leaf must be one of {', '.join(names)}; got {leaf!r}")
    leaves = list(theta.W) + list(theta.b)
    position = names.index(leaf)
    start = sum(int(np.size(v)) for v in leaves[:position])
    return start, tuple(np.shape(leaves[position]))


def numerical_leaf(
    theta: Params,
    x: ArrayLike,
    y: ArrayLike,
    activations: tuple[str | Activation, ...],
    cost: str | Cost,
    leaf: str,
    *,
    method: str = "central",
    step: float | None = None,
    batch_size: int = 64,
) -> NumericalGradient:
    """:func:`numerical_grad` of one leaf only, with its error estimate.

    Costs what the leaf's entries cost, not the whole network's: for
    comparing in full a leaf that a directional check found wrong.

    Args:
      theta, x, y, activations, cost: as for :func:`reference.grad`.
      leaf: "W_l" or "b_l", 1-based.
      method, step, batch_size: as for :func:`numerical_grad`.

    Returns:
      A :class:`NumericalGradient` whose grad and error are arrays shaped
      like the leaf.

    Raises:
      ValueError: an unknown leaf, method, step or batch size, or inputs
        that do not fit.
    """
    where = "reference.numerical_leaf"
    _check_method(method, where)
    steps = _steps(method, step, where)
    _check_batch_size(batch_size, where)
    with jax.enable_x64(True):
        theta64, x64, y64, checked = _checked64(theta, x, y, activations, cost, where)
        start, shape = _leaf_slice(theta64, leaf, where)
        indices = start + jnp.arange(math.prod(shape))
        value, error = _estimate(
            theta64, x64, y64, indices, checked.activations, checked.cost, method, steps, batch_size
        )
        return NumericalGradient(
            value.reshape(shape), error.reshape(shape), differences_oracle(method, step)
        )


@functools.partial(jax.jit, static_argnames=("activations", "batch_size"))
def _kink_sites(
    theta: Params,
    X: jax.Array,
    activations: tuple[Activation, ...],
    step: float,
    batch_size: int,
) -> list[jax.Array]:
    """Per layer, (N, n_l): within reach of a kink for some parameter moved by +-step."""
    flat, unravel = ravel_pytree(theta)
    base, _ = preactivations(theta, X, activations)

    def entry(i):
        ends = [
            preactivations(unravel(flat.at[i].add(s)), X, activations)[0] for s in (step, -step)
        ]
        moved = [jnp.stack([z[l] for z in ends]) for l in range(len(base))]
        return site_flags(activations, base, moved)

    flags = jax.lax.map(entry, jnp.arange(flat.size), batch_size=batch_size)
    return [jnp.any(f, axis=0) for f in flags]


def kinks_at(
    theta: Params,
    X: ArrayLike,
    activations: Sequence[str | Activation],
    *,
    step: float = CENTRAL_STEP,
    batch_size: int = 64,
) -> tuple[KinkSite, ...]:
    """The pre-activations within reach of a kink when one parameter moves by +-step.

    Reach is the kink test of :func:`numerical_grad` (KINK_MARGIN times the
    movement of each z over every single-parameter perturbation), from the
    activations' ``near_kink``. A caller that differences at this point can
    redraw its inputs when this is not empty, or report the entries that
    :func:`numerical_grad` marks ``inf``. Cost: two forward passes per
    parameter.

    Args:
      theta: Params(W, b).
      X: a batch (N, n_0) or one sample (n_0,).
      activations: sigma_1..sigma_L, names or manualgrad activations.
      step: the perturbation; for Richardson pass its base step, the largest.
      batch_size: perturbations evaluated at once.

    Returns:
      The sites in order of layer, row and index.

    Raises:
      ValueError: a bad step or batch size, or inputs that do not fit.
    """
    where = "reference.kinks_at"
    _steps("central", step, where)
    _check_batch_size(batch_size, where)
    X = jnp.asarray(X)
    with jax.enable_x64(True):
        theta64 = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float64), theta)
        X64 = jnp.asarray(X, jnp.float64)
        X64 = X64 if X64.ndim == 2 else X64[None]
        acts = tuple(manualgrad.get_activation(a) for a in activations)
        # The shapes are checked as for a loss; the targets and cost play no part.
        width = acts[-1].output_width(np.shape(theta64.W[-1])[0])
        Y = jnp.zeros((X64.shape[0], width))
        checked = check_inputs(theta64, X64, Y, acts, "mse", batch=True, where=where)
        flags = _kink_sites(checked.theta, checked.x, checked.activations, step, batch_size)
        return tuple(
            KinkSite(l, int(row), int(index), acts[l - 1].name)
            for l, flag in enumerate(flags, start=1)
            for row, index in np.argwhere(np.asarray(flag))
        )


def undetermined_entries(error: Params | jax.Array, *, leaf: str | None = None) -> tuple[str, ...]:
    """The entries an error estimate marks ``inf``: at a kink, not compared.

    Args:
      error: the error of :func:`numerical_grad` (Params) or of
        :func:`numerical_leaf` (an array; pass its ``leaf`` name).
      leaf: the leaf's name when ``error`` is one array.

    Returns:
      Names such as "W_1[2, 0]" and "b_1[2]", in Params' order.
    """
    if isinstance(error, Params):
        named = zip(leaf_names(len(error.W)), (*error.W, *error.b), strict=True)
    else:
        named = [(leaf or "entry", error)]
    return tuple(
        f"{name}[{', '.join(str(int(i)) for i in index)}]"
        for name, values in named
        for index in np.argwhere(np.isinf(np.asarray(values)))
    )
