"""One seed's problem: theta, the batch, what the candidate receives and what it should return.

Everything is drawn by :func:`reference.draw_case`, the project's one recipe;
the conventions of the check only change how the same numbers reach the
candidate:

* ``targets="labels"``: for cross-entropy, Y becomes the class indices
  ``argmax(Y, axis=1)`` of the drawn probability rows (the reference uses
  their one-hot rows); for binary cross-entropy, the 0/1 targets
  ``Y >= 1/2``.
* ``weight_layout="in_out"``: every W_l reaches the candidate transposed.
* ``batch_layout="columns"``: X and Y reach it transposed (labels stay (N,)).

The expected gradient is :func:`reference.grad` in float64 on the very
numbers the candidate received, divided by N for ``reduction="mean"``, plus
lam W_l for ``weight_decay=lam``, in the notes' layout.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from manualgrad import Params
from reference.autodiff import grad as reference_grad
from reference.checker._arguments import Spec, is_registered_cost
from reference.problems import draw_case

__all__ = ["Case", "Leaves", "draw", "expected_leaves", "leaf_names", "targets_as_labels"]

#: Gradient leaves in the notes' layout: [W_1..W_L, b_1..b_L], float64 NumPy.
Leaves = list[np.ndarray]


def leaf_names(num_layers: int) -> list[str]:
    """["W_1", ..., "W_L", "b_1", ..., "b_L"], the order of :data:`Leaves`."""
    layers = range(1, num_layers + 1)
    return [f"W_{l}" for l in layers] + [f"b_{l}" for l in layers]


@dataclasses.dataclass(frozen=True)
class Case:
    """One seed's problem.

    Attributes:
      seed: the seed.
      theta: Params in the notes' layout, the check's dtype.
      X: the batch, one sample per row (N, n_0).
      Y: the reference's targets (N, m_L): one-hot rows for class labels.
      inputs: (theta, X, Y) as the candidate receives them.
    """

    seed: int
    theta: Params
    X: jax.Array
    Y: jax.Array
    inputs: tuple[Params, jax.Array, jax.Array]


def _candidate_inputs(
    theta: Params, X: jax.Array, Y: jax.Array, labels: jax.Array | None, spec: Spec
) -> tuple[Params, jax.Array, jax.Array]:
    if spec.weight_layout == "in_out":
        theta = Params(tuple(W.T for W in theta.W), theta.b)
    columns = spec.batch_layout == "columns"
    X_c = X.T if columns else X
    if labels is not None:
        return theta, X_c, labels
    return theta, X_c, (Y.T if columns else Y)


def draw(seed: int, spec: Spec) -> Case:
    """The problem of ``seed`` (call with float64 enabled for a float64 check)."""
    theta, X, Y = draw_case(
        seed,
        activations=spec.activations,
        cost=spec.cost,
        dims=spec.dims,
        batch_size=spec.rows,
        dtype=spec.dtype,
    )
    labels = None
    if spec.data is not None:
        X_rows, Y_rows = spec.data_rows
        X = jnp.asarray(X_rows, spec.dtype)
        if spec.class_labels:
            labels = jnp.asarray(Y_rows, jnp.int32)
        else:
            Y = jnp.asarray(Y_rows, spec.dtype)
    elif spec.class_labels:
        labels = jnp.argmax(Y, axis=1).astype(jnp.int32)
    elif spec.targets == "labels":
        Y = (Y >= 0.5).astype(Y.dtype)
    if labels is not None:
        Y = jax.nn.one_hot(labels, spec.out_width, dtype=X.dtype)
    return Case(seed, theta, X, Y, _candidate_inputs(theta, X, Y, labels, spec))


def _as64(value: jax.Array) -> jax.Array:
    return jnp.asarray(value, dtype=jnp.float64)


def expected_leaves(
    theta: Params,
    X: jax.Array,
    Y: jax.Array,
    spec: Spec,
    *,
    reduction: str | None = None,
) -> Leaves:
    """The gradient the candidate should return, in the notes' layout, float64.

    Args:
      theta: Params in the notes' layout.
      X: (N, n_0).
      Y: the reference's targets (N, m_L).
      spec: the check; its weight decay applies.
      reduction: overrides ``spec.reduction``.
    """
    with jax.enable_x64(True):
        theta64 = jax.tree_util.tree_map(_as64, theta)
        g = reference_grad(theta64, _as64(X), _as64(Y), spec.activations, spec.cost)
        W = [np.asarray(w) for w in g.W]
        b = [np.asarray(v) for v in g.b]
        W0 = [np.asarray(w) for w in theta64.W]
    if (reduction or spec.reduction) == "mean":
        N = X.shape[0]
        W, b = [w / N for w in W], [v / N for v in b]
    if spec.weight_decay:
        W = [w + spec.weight_decay * w0 for w, w0 in zip(W, W0, strict=True)]
    return W + b


def targets_as_labels(Y: jax.Array, spec: Spec) -> jax.Array | None:
    """Y as code that reads labels off probability rows sees it: one-hot argmax, or Y >= 1/2.

    None where that is no other reading: targets already labels, or a cost
    without labels.
    """
    if spec.targets == "labels":
        return None
    if is_registered_cost(spec.cost, "cross_entropy"):
        return jax.nn.one_hot(jnp.argmax(Y, axis=1), Y.shape[1], dtype=Y.dtype)
    if is_registered_cost(spec.cost, "binary_cross_entropy"):
        return (Y >= 0.5).astype(Y.dtype)
    return None
