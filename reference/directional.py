"""Directional checks: a gradient of any size against difference quotients along directions.

A gradient g of the loss L is right exactly when <g, v> is the derivative
of t -> L(theta + t v) at 0 for every direction v. :func:`directional_check`
tests that for a few random unit directions restricted to each leaf (W_1,
b_1, ...), so it costs O(directions x leaves) forward passes however many
parameters the network has, and trusts no autodiff: the derivative along v
is a float64 difference quotient of the reference forward pass.

For each direction, in float64:

1. v is +-1 / sqrt(n) with random signs on one leaf of n entries, zero
   elsewhere (a unit Rademacher direction, drawn from ``seed``, the leaf,
   the direction's number and the redraw).
2. The base step h_0 is the largest of :data:`DIRECTIONAL_STEPS` (2^-5,
   2^-7, ..., 2^-15) at which no pre-activation (and no Huber residual)
   comes within reach of a kink between theta - h_0 v and theta + h_0 v,
   by the test of :func:`reference.finite_differences.any_kink`. Where none
   is, v is redrawn, at most ``redraws`` times; a direction that finds none
   is left out and, if all of a leaf's are, the leaf is reported "at a kink,
   not compared" with the pre-activation in the way.
3. The derivative is the Richardson extrapolation of central differences
   at h_0, h_0/2, h_0/4, h_0/8 (:func:`reference.finite_differences.extrapolate`),
   with its own error bound. The points are theta + t v rounded to float64;
   the candidate is projected on the direction actually taken, sum_k w_k
   (fl(theta + t_k v) - fl(theta - t_k v)) / 2 t_k, so that rounding of the
   perturbation is no error.

A leaf's relative error is :func:`reference.leaf_relative_errors` of the
projections <g, v_k> against the quotients D_k (the largest difference over
the largest |D_k|): for a mistake delta in the leaf it is about
|delta| / |g|, whatever the leaf's size, and a single wrong entry is never
hidden, since <delta, v> = +-delta / sqrt(n). On smooth networks the
quotients are accurate to about 1e-11 relative, behind kinks (small steps)
to about 1e-8. The tolerance is :data:`reference.FINITE_DIFFERENCE_TOLERANCE`
(1e-6), or the candidate dtype's tolerance where that is larger (1e-5 for
float32); a leaf passes when its error is within the tolerance plus the
quotients' own relative error bound.

:data:`AUTO_DIRECTIONAL_ABOVE` is where ``check_backprop(mode="auto")``
switches from comparing every entry to directional checks, and
:data:`AUTO_FULL_LEAF_AT_MOST` the largest failing leaf it then compares in
full (:func:`reference.finite_differences.numerical_leaf`) to name the
worst element.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

from manualgrad import Activation, Cost, Params, check_inputs
from reference import _forward
from reference.finite_differences import (
    RICHARDSON_LEVELS,
    RICHARDSON_STEP,
    KinkSite,
    Oracle,
    any_kink,
    extrapolate,
    extrapolation_weights,
    leaf_names,
    loss_scale,
    preactivations,
)
from reference.tolerances import FINITE_DIFFERENCE_TOLERANCE, leaf_relative_errors, tolerance

__all__ = [
    "AUTO_DIRECTIONAL_ABOVE",
    "AUTO_FULL_LEAF_AT_MOST",
    "CHECK_MODES",
    "DIRECTIONAL",
    "DIRECTIONAL_STEPS",
    "REDRAWS",
    "DirectionalDerivatives",
    "DirectionalReport",
    "check_mode",
    "directional_check",
    "directional_derivatives",
    "num_parameters",
]

#: ``check_backprop(mode="auto")`` checks directionally above this many
#: parameters (about a (64, 128, 128, 10) network), where full differences
#: take two forward passes per parameter; at or below it, entry by entry.
AUTO_DIRECTIONAL_ABOVE = 20_000
#: In auto mode a leaf that fails directionally and has at most this many
#: entries is compared entry by entry, to name the worst element.
AUTO_FULL_LEAF_AT_MOST = 2_048
#: The checker's modes.
CHECK_MODES = ("full", "directional", "auto")
#: The base steps a direction may use, largest first: Richardson's base step
#: 2^-5, then quartered down to 2^-15 to step past kinks.
DIRECTIONAL_STEPS = tuple(RICHARDSON_STEP / 4**c for c in range(6))
#: How many times a direction is redrawn when no step avoids a kink.
REDRAWS = 4

#: What :func:`directional_check` runs.
DIRECTIONAL = Oracle("directional", DIRECTIONAL_STEPS, 2 * RICHARDSON_LEVELS)


def num_parameters(theta: Params) -> int:
    """The number of entries of theta, W and b together."""
    return sum(int(np.size(v)) for v in (*theta.W, *theta.b))


def check_mode(mode: str, parameters: int, *, where: str = "check_backprop") -> str:
    """The mode a check runs in: "full" or "directional".

    Args:
      mode: "full" (every entry), "directional", or "auto": directional
        above AUTO_DIRECTIONAL_ABOVE parameters.
      parameters: the network's parameter count (:func:`num_parameters`).
      where: the caller's name, which starts an error message.

    Raises:
      ValueError: an unknown mode.
    """
    if mode not in CHECK_MODES:
        raise ValueError(
            f"{where}: mode must be one of {', '.join(map(repr, CHECK_MODES))}; got {mode!r}"
        )
    if mode == "auto":
        return "directional" if parameters > AUTO_DIRECTIONAL_ABOVE else "full"
    return mode


def _within(error: float, oracle_error: float, tolerance: float) -> bool:
    """A leaf passes when its error is within the tolerance once the quotients' own
    error is allowed for: a smaller deviation is no evidence of a mistake."""
    return error <= tolerance + oracle_error


@dataclasses.dataclass(frozen=True)
class DirectionalReport:
    """The outcome of :func:`directional_check`.

    A leaf passes when its error is at most the tolerance plus the
    quotients' own error bound (relative, ``oracle_errors``): a deviation
    the oracle's error explains is no evidence. The bound is about 1e-10 on
    smooth networks and 1e-7 behind kinks, but large relative to a leaf
    whose gradient is zero (a dead relu layer), whose scale is a floor.

    Attributes:
      passed: every leaf compared, and each within the tolerance.
      tolerance: the relative tolerance applied.
      errors: leaf name ("W_1", ..., "b_L") -> the relative error of the
        projections <grads, v> against the difference quotients; NaN for a
        leaf not compared.
      oracle_errors: leaf name -> the quotients' own error bound, relative
        in the same measure.
      steps: leaf name -> the base step each compared direction used.
      redraws: leaf name -> how many directions were redrawn for a kink.
      not_compared: leaf name -> why it was not compared.
      projections: leaf name -> <grads, v_k> for the compared directions.
      derivatives: leaf name -> the difference quotients D_k.
      directions: directions per leaf.
      seed: the seed of the directions.
      forward_passes: the forward passes the quotients took, whatever the
        parameter count: two per base step tried and per extrapolation step.
      oracle: what computed the quotients.
    """

    passed: bool
    tolerance: float
    errors: dict[str, float]
    oracle_errors: dict[str, float]
    steps: dict[str, tuple[float, ...]]
    redraws: dict[str, int]
    not_compared: dict[str, str]
    projections: dict[str, tuple[float, ...]]
    derivatives: dict[str, tuple[float, ...]]
    directions: int
    seed: int
    forward_passes: int
    oracle: Oracle = DIRECTIONAL

    @property
    def failing(self) -> tuple[str, ...]:
        """The compared leaves outside the tolerance, in Params' order."""
        return tuple(
            name
            for name, error in self.errors.items()
            if name not in self.not_compared
            and not _within(error, self.oracle_errors[name], self.tolerance)
        )

    def lines(self) -> list[str]:
        """One line per leaf: its error, the oracle's, the steps, and the verdict."""
        lines = [
            f"oracle: {self.oracle}; {self.directions} directions per leaf, seed {self.seed}, "
            f"{self.forward_passes} forward passes"
        ]
        for name, error in self.errors.items():
            if name in self.not_compared:
                lines.append(f"{name}: not compared: {self.not_compared[name]}")
                continue
            steps = sorted(set(self.steps[name]), reverse=True)
            redrawn = f", {self.redraws[name]} redrawn at kinks" if self.redraws[name] else ""
            verdict = "ok" if _within(error, self.oracle_errors[name], self.tolerance) else "FAIL"
            lines.append(
                f"{name}: relative error {error:.1e} (tolerance {self.tolerance:g}; oracle's own "
                f"error <= {self.oracle_errors[name]:.1e}; base steps "
                f"{', '.join(f'{h:.3g}' for h in steps)}{redrawn}) {verdict}"
            )
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _sizes(theta: Params) -> tuple[int, ...]:
    """The leaves' entry counts, in Params' order (static, from the shapes)."""
    return tuple(int(np.size(v)) for v in jax.tree_util.tree_leaves(theta))


def _signs(key: jax.Array, n: int) -> jax.Array:
    """A leaf's part of a direction: +-1 / sqrt(n), random signs (Rademacher)."""
    return jax.random.rademacher(key, (n,), jnp.float64) / math.sqrt(n)


def _direction(
    key: jax.Array, sizes: tuple[int, ...], leaf: jax.Array, tries: jax.Array
) -> jax.Array:
    """A unit direction on leaf ``leaf`` (traced), zero on the others, flattened.

    Its entries on the leaf are +-1 / sqrt(n) with random signs (Rademacher):
    <delta, v> has the variance |delta|^2 / n of a Gaussian direction, and a
    mistake in a single entry is never hidden. Only the leaf's signs are
    drawn.
    """

    def on(j: int) -> Any:
        before, after = sum(sizes[:j]), sum(sizes[j + 1 :])
        return lambda key: jnp.concatenate(
            [jnp.zeros(before), _signs(key, sizes[j]), jnp.zeros(after)]
        )

    return jax.lax.switch(leaf, [on(j) for j in range(len(sizes))], jax.random.fold_in(key, tries))


def _relative_steps(h0: jax.Array) -> jax.Array:
    return h0 / 2.0 ** jnp.arange(RICHARDSON_LEVELS)


def _pairs(leaves: int, directions: int) -> tuple[jax.Array, jax.Array]:
    """(leaf, direction) for every direction of every leaf, leaf-major."""
    leaf, k = jnp.meshgrid(jnp.arange(leaves), jnp.arange(directions), indexing="ij")
    return leaf.ravel(), k.ravel()


@functools.partial(
    jax.jit, static_argnames=("activations", "cost", "directions", "redraws", "sample")
)
def _derivatives(
    theta: Params,
    X: jax.Array,
    Y: jax.Array,
    key: jax.Array,
    activations: tuple[Activation, ...],
    cost: Cost,
    directions: int,
    redraws: int,
    sample: bool,
) -> tuple[jax.Array, ...]:
    """Per (leaf, direction): the quotient, its error, the step, the tries, and the sites."""
    flat, unravel = ravel_pytree(theta)
    sizes = _sizes(theta)
    base = preactivations(theta, X, activations)
    scale = loss_scale(theta, X, Y, activations, cost)
    ladder = jnp.asarray(DIRECTIONAL_STEPS)
    last = len(DIRECTIONAL_STEPS) - 1

    def loss(v, t):
        x, y = (X[0], Y[0]) if sample else (X, Y)
        return _forward.loss(unravel(flat + t * v), x, y, activations, cost)

    def kinks(v, h):
        ends = jnp.stack([h, -h])
        moved = jax.lax.map(lambda t: preactivations(unravel(flat + t * v), X, activations), ends)
        return any_kink(activations, cost, Y, base, moved)

    def one(pair):
        leaf, k = pair
        key_k = jax.random.fold_in(jax.random.fold_in(key, leaf), k)

        def down_the_ladder(v):
            # The largest base step at which no kink is within reach.
            def blocked(state):
                rung, near, _ = state
                return near & (rung <= last)

            def probe(state):
                rung, _, _ = state
                near, sites = kinks(v, ladder[rung])
                return rung + 1, near, sites

            no_sites = [jnp.zeros(z.shape, bool) for z in base[0]]
            rung, near, sites = jax.lax.while_loop(
                blocked, probe, (jnp.asarray(0), jnp.asarray(True), no_sites)
            )
            return rung - 1, near, sites

        def redraw(state):
            tries = state[0]
            v = _direction(key_k, sizes, leaf, tries)
            rung, near, sites = down_the_ladder(v)
            return tries + 1, v, rung, near, sites

        def searching(state):
            tries, _, _, near, _ = state
            return near & (tries <= redraws)

        no_sites = [jnp.zeros(z.shape, bool) for z in base[0]]
        start = (jnp.asarray(0), jnp.zeros_like(flat), jnp.asarray(0), jnp.asarray(True), no_sites)
        tries, v, rung, near, sites = jax.lax.while_loop(searching, redraw, start)
        steps = _relative_steps(ladder[rung])
        plus, minus = jax.lax.map(lambda t: jnp.stack([loss(v, t), loss(v, -t)]), steps).T
        value, error = extrapolate((plus - minus) / (2 * steps), steps, scale)
        # tries - 1: the draw that was used (or, exhausted, the last one).
        return value, error, rung, tries - 1, ~near, sites

    return jax.lax.map(one, _pairs(len(sizes), directions))


@functools.partial(jax.jit, static_argnames=("directions",))
def _projections(
    grads: Params,
    theta: Params,
    key: jax.Array,
    rungs: jax.Array,
    tries: jax.Array,
    directions: int,
) -> jax.Array:
    """<grads, u> for the direction u each (leaf, direction) actually took.

    u = sum_k w_k (fl(theta + t_k v) - fl(theta - t_k v)) / 2 t_k: the
    extrapolation's weights on the steps taken, rounded as they were. It is
    zero off the leaf, so only the leaf's entries are formed.
    """
    leaves = jax.tree_util.tree_leaves(theta)
    g = jax.tree_util.tree_leaves(grads)
    sizes = _sizes(theta)
    ladder = jnp.asarray(DIRECTIONAL_STEPS)
    weights = jnp.asarray(extrapolation_weights(RICHARDSON_LEVELS)[0])

    def on(j: int) -> Any:
        def project(key: jax.Array, steps: jax.Array) -> jax.Array:
            a, v = leaves[j].ravel(), _signs(key, sizes[j])
            taken = jax.vmap(lambda t: ((a + t * v) - (a - t * v)) / (2 * t))(steps)
            return jnp.vdot(g[j].ravel(), weights @ taken)

        return project

    def one(args):
        leaf, k, rung, tried = args
        key_k = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, leaf), k), tried)
        steps = _relative_steps(ladder[rung])
        return jax.lax.switch(leaf, [on(j) for j in range(len(sizes))], key_k, steps)

    return jax.lax.map(one, (*_pairs(len(sizes), directions), rungs, tries))


@dataclasses.dataclass(frozen=True)
class DirectionalDerivatives:
    """Difference quotients of the loss along random directions, ready to compare with.

    Made by :func:`directional_derivatives`; :meth:`compare` checks a
    gradient against them, so one oracle serves several candidates.

    Attributes:
      theta: the point, float64.
      names: the leaves, "W_1" .. "b_L".
      seed: the seed of the directions.
      directions: directions per leaf.
      values: (leaves, directions), the quotients D_k.
      errors: (leaves, directions), their error bounds.
      rungs: (leaves, directions), the index of each base step in
        DIRECTIONAL_STEPS.
      tries: (leaves, directions), how often each direction was redrawn.
      found: (leaves, directions), whether a step avoided every kink.
      blocking: leaf name -> the sites in the way of its last direction
        that found no step, or ().
      redraws: the most redraws a direction was allowed.
    """

    theta: Params
    names: tuple[str, ...]
    seed: int
    directions: int
    values: np.ndarray
    errors: np.ndarray
    rungs: np.ndarray
    tries: np.ndarray
    found: np.ndarray
    blocking: dict[str, tuple[KinkSite, ...]]
    redraws: int = REDRAWS

    @property
    def forward_passes(self) -> int:
        """Forward passes taken: the point, the loss's scale, and for each direction two
        per base step tried and two per extrapolation step."""
        probes = self.tries * len(DIRECTIONAL_STEPS) + self.rungs + 1
        return int(2 + np.sum(2 * probes + 2 * RICHARDSON_LEVELS))

    def compare(self, grads: Any, *, tolerance: float | None = None) -> DirectionalReport:
        """Checks ``grads`` against the quotients; see :func:`directional_check`."""
        where = "reference.directional_check"
        leaves = _candidate_leaves(grads, self.theta, self.names, where)
        if tolerance is None:
            tolerance = max(FINITE_DIFFERENCE_TOLERANCE, *(_dtype_tolerance(g) for g in leaves))
        elif not (isinstance(tolerance, (int, float)) and tolerance > 0):
            raise ValueError(f"{where}: tolerance must be a positive number; got {tolerance!r}")
        with jax.enable_x64(True):
            grads64 = Params(
                tuple(jnp.asarray(g, jnp.float64) for g in leaves[: len(self.theta.W)]),
                tuple(jnp.asarray(g, jnp.float64) for g in leaves[len(self.theta.W) :]),
            )
            projected = np.asarray(
                _projections(
                    grads64,
                    self.theta,
                    jax.random.PRNGKey(self.seed),
                    jnp.asarray(self.rungs.ravel()),
                    jnp.asarray(self.tries.ravel()),
                    self.directions,
                )
            ).reshape(self.values.shape)
        got = [p[f] for p, f in zip(projected, self.found, strict=True)]
        expected = [d[f] for d, f in zip(self.values, self.found, strict=True)]
        bounds = [d[f] + e[f] for d, e, f in zip(self.values, self.errors, self.found, strict=True)]
        errors = leaf_relative_errors(got, expected)
        oracle_errors = leaf_relative_errors(bounds, expected)
        not_compared = {}
        for i, name in enumerate(self.names):
            if not self.found[i].any():
                sites = ", ".join(str(s) for s in self.blocking[name][:3]) or "a pre-activation"
                not_compared[name] = (
                    f"at a kink, not compared: every direction ({self.redraws + 1} draws each) "
                    f"moves {sites} within reach of its kink, even at step "
                    f"{DIRECTIONAL_STEPS[-1]:.3g}"
                )
        errors = [
            math.nan if n in not_compared else e for n, e in zip(self.names, errors, strict=True)
        ]
        passed = not not_compared and all(
            _within(e, o, tolerance) for e, o in zip(errors, oracle_errors, strict=True)
        )
        return DirectionalReport(
            passed=passed,
            tolerance=float(tolerance),
            errors=dict(zip(self.names, errors, strict=True)),
            oracle_errors=dict(zip(self.names, oracle_errors, strict=True)),
            steps={
                n: tuple(DIRECTIONAL_STEPS[r] for r in rungs[f])
                for n, rungs, f in zip(self.names, self.rungs, self.found, strict=True)
            },
            redraws={n: int(t.sum()) for n, t in zip(self.names, self.tries, strict=True)},
            not_compared=not_compared,
            projections={n: tuple(map(float, p)) for n, p in zip(self.names, got, strict=True)},
            derivatives={
                n: tuple(map(float, d)) for n, d in zip(self.names, expected, strict=True)
            },
            directions=self.directions,
            seed=self.seed,
            forward_passes=self.forward_passes,
        )


def _dtype_tolerance(leaf: np.ndarray) -> float:
    name = np.asarray(leaf).dtype.name
    return tolerance(name) if name in ("float32", "float64") else FINITE_DIFFERENCE_TOLERANCE


def _candidate_leaves(
    grads: Any, theta: Params, names: Sequence[str], where: str
) -> list[np.ndarray]:
    """The candidate's leaves in Params' order, from Params or a list of (W_l, b_l) pairs."""
    num_layers = len(theta.W)
    if isinstance(grads, Params) or (hasattr(grads, "W") and hasattr(grads, "b")):
        W, b = list(grads.W), list(grads.b)
    elif isinstance(grads, Sequence) and all(
        isinstance(p, Sequence) and len(p) == 2 for p in grads
    ):
        W, b = [p[0] for p in grads], [p[1] for p in grads]
    else:
        raise TypeError(
            f"{where}: grads must be Params or a list of (W_l, b_l) pairs; got "
            f"{type(grads).__name__}"
        )
    if len(W) != num_layers or len(b) != num_layers:
        raise ValueError(
            f"{where}: grads has {len(W)} weight and {len(b)} bias leaves; the network has "
            f"{num_layers} layers"
        )
    leaves = [np.asarray(v) for v in (*W, *b)]
    for name, got, expected in zip(names, leaves, (*theta.W, *theta.b), strict=True):
        if got.shape != tuple(expected.shape):
            raise ValueError(
                f"{where}: grads' {name} has shape {got.shape}, expected {tuple(expected.shape)}"
            )
    return leaves


def directional_derivatives(
    theta: Params,
    x_or_X: ArrayLike,
    y_or_Y: ArrayLike,
    activations: Sequence[str | Activation],
    cost: str | Cost,
    *,
    directions: int = 8,
    seed: int = 0,
    redraws: int = REDRAWS,
) -> DirectionalDerivatives:
    """The difference quotients of a directional check, before any gradient is compared.

    Args:
      theta, x_or_X, y_or_Y, activations, cost: as for :func:`reference.grad`.
      directions: random unit directions per leaf.
      seed: the seed of the directions.
      redraws: redraws of a direction that no step takes past the kinks.

    Returns:
      A :class:`DirectionalDerivatives`; its ``compare(grads)`` checks a gradient.

    Raises:
      ValueError: a bad count of directions or redraws, or inputs that do not fit.
    """
    where = "reference.directional_check"
    for option, value, least in (("directions", directions, 1), ("redraws", redraws, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(
                f"{where}: {option} must be an integer of at least {least}; got {value!r}"
            )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"{where}: seed must be an integer; got {seed!r}")
    x = jnp.asarray(x_or_X)
    with jax.enable_x64(True):
        checked = check_inputs(theta, x, y_or_Y, activations, cost, batch=x.ndim == 2, where=where)
        as64 = lambda v: jnp.asarray(v, jnp.float64)  # noqa: E731
        theta64 = jax.tree_util.tree_map(as64, checked.theta)
        sample = checked.x.ndim == 1
        X = as64(checked.x)[None] if sample else as64(checked.x)
        Y = as64(checked.y)[None] if sample else as64(checked.y)
        values, errors, rungs, tries, found, sites = jax.device_get(
            _derivatives(
                theta64,
                X,
                Y,
                jax.random.PRNGKey(seed),
                checked.activations,
                checked.cost,
                directions,
                redraws,
                sample,
            )
        )
    names = leaf_names(len(theta64.W))
    shape = (len(names), directions)
    found = found.reshape(shape)
    blocking = {}
    for i, name in enumerate(names):
        missed = np.flatnonzero(~found[i])
        blocking[name] = (
            ()
            if missed.size == 0
            else tuple(
                KinkSite(l, int(row), int(index), checked.activations[l - 1].name)
                for l, flags in enumerate(sites, start=1)
                for row, index in np.argwhere(
                    flags.reshape(*shape, *flags.shape[1:])[i, missed[-1]]
                )
            )
        )
    return DirectionalDerivatives(
        theta=theta64,
        names=names,
        seed=int(seed),
        directions=directions,
        values=values.reshape(shape),
        errors=errors.reshape(shape),
        rungs=rungs.reshape(shape),
        tries=tries.reshape(shape),
        found=found,
        blocking=blocking,
        redraws=redraws,
    )


def directional_check(
    grads: Any,
    theta: Params,
    x_or_X: ArrayLike,
    y_or_Y: ArrayLike,
    activations: Sequence[str | Activation],
    cost: str | Cost,
    *,
    directions: int = 8,
    seed: int = 0,
    tolerance: float | None = None,
    redraws: int = REDRAWS,
) -> DirectionalReport:
    """Checks a gradient computed by anything along random directions, leaf by leaf.

    Costs O(directions x leaves) forward passes whatever the parameter
    count (see the module docstring), so it serves networks of millions of
    parameters. It reports; it raises nothing for a wrong gradient.

    Args:
      grads: the gradient to check: Params or a list of (W_l, b_l) pairs,
        NumPy or JAX arrays shaped like theta's; the loss of a batch is the
        sum over its rows.
      theta, x_or_X, y_or_Y, activations, cost: as for :func:`reference.grad`.
      directions: random unit directions per leaf.
      seed: the seed of the directions; the same seed, the same directions.
      tolerance: the relative tolerance; None for FINITE_DIFFERENCE_TOLERANCE,
        or the tolerance of grads' dtype where that is larger.
      redraws: redraws of a direction that no step takes past the kinks.

    Returns:
      A :class:`DirectionalReport`.

    Raises:
      ValueError: grads of the wrong shapes, a bad option, or inputs that do
        not fit.
      TypeError: grads that are neither Params nor a list of pairs.
    """
    oracle = directional_derivatives(
        theta, x_or_X, y_or_Y, activations, cost, directions=directions, seed=seed, redraws=redraws
    )
    return oracle.compare(grads, tolerance=tolerance)
