"""The one table of network cases that drives the correctness tests.

A case is an architecture: dims (n_0, ..., n_L), one activation per layer
and a cost. ``CASES`` covers every activation in hidden and in output
position, every cost with each output activation it is defined for, and
the awkward shapes (L = 1, width 1, non-square, deep mixed, pooling last).
``make_inputs`` draws theta, a batch and targets for a case and a dtype,
always the same for the same arguments. A case with ``targets="labels"``
gets integer labels: class indices (N,) for cross-entropy, 0/1 for binary
cross-entropy.
"""

from __future__ import annotations

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np

import manualgrad
import reference
from tests._custom import CUSTOM_ACTIVATIONS, LOGSUMEXP_POOL, SCALED_TANH, SOFT_NORMALIZE

DTYPES = ("float32", "float64")
BATCH_SIZE = 3


@dataclasses.dataclass(frozen=True)
class Case:
    """A network architecture with its cost."""

    name: str
    dims: tuple[int, ...]
    activations: tuple[str | manualgrad.Activation, ...]
    cost: str | manualgrad.Cost = "mse"
    targets: str = "probabilities"  # or "labels": integer class indices, 0/1 binary targets

    @property
    def out_width(self) -> int:
        return manualgrad.get_activation(self.activations[-1]).output_width(self.dims[-1])


#: Output activations each cost is used with in the table, read off the cost
#: objects (cost.accepts_output). A cost defined on every real output (mse,
#: huber) would take all of them; mse already meets each activation at the
#: output in the cases below, so huber keeps a sample of kinds: identity,
#: bounded, kinked, pooling.
_HUBER_SAMPLE = ("identity", "tanh", "relu", "avg_pool")
COST_OUTPUTS: dict[str, tuple[str, ...]] = {
    cost: tuple(
        name
        for name in manualgrad.ACTIVATIONS
        if manualgrad.get_cost(cost).accepts_output(name)
        and (cost != "huber" or name in _HUBER_SAMPLE)
    )
    for cost in manualgrad.COSTS
}


def _build_cases() -> list[Case]:
    cases = []
    for name in manualgrad.ACTIVATIONS:
        # The activation in hidden and in output position at once.
        cases.append(Case(name, (3, 5, 4), (name, name)))
    for cost, outputs in COST_OUTPUTS.items():
        if cost == "mse":
            continue  # Every output-* case above already uses mse.
        for output in outputs:
            cases.append(Case(f"{cost}-{output}", (4, 6, 3), ("sigmoid", output), cost))
    for custom in CUSTOM_ACTIVATIONS:
        cases.append(Case(f"custom-{custom.name}", (3, 5, 4), (custom, custom)))
    cases += [
        Case(
            "labels-cross_entropy-softmax",
            (4, 6, 3),
            ("tanh", "softmax"),
            "cross_entropy",
            targets="labels",
        ),
        Case(
            "labels-cross_entropy-sigmoid",
            (4, 6, 3),
            ("relu", "sigmoid"),
            "cross_entropy",
            targets="labels",
        ),
        Case(
            "labels-binary_cross_entropy-sigmoid",
            (4, 6, 3),
            ("elu", "sigmoid"),
            "binary_cross_entropy",
            targets="labels",
        ),
        Case(
            "labels-norms",
            (4, 6, 5, 3),
            ("layer_norm", "rms_norm", "softmax"),
            "cross_entropy",
            targets="labels",
        ),
        Case(
            "norm-parameters",
            (3, 5, 5, 2),
            (manualgrad.LayerNorm(eps=0.1), manualgrad.RMSNorm(eps=0.01), "identity"),
        ),
        Case(
            "custom-mixed",
            (3, 6, 5, 5, 4),
            (SOFT_NORMALIZE, "layer_norm", LOGSUMEXP_POOL, SCALED_TANH),
        ),
    ]
    cases += [
        Case("one-layer", (4, 3), ("sigmoid",)),
        Case("one-layer-softmax-ce", (5, 4), ("softmax",), "cross_entropy"),
        Case("width-one", (1, 1, 1), ("tanh", "identity")),
        Case("non-square", (2, 7, 3, 5), ("relu", "elu", "identity")),
        Case(
            "deep-mixed",
            (4, 6, 5, 6, 5, 3),
            ("relu", "softmax", "radial_sigmoid", "gelu", "softmax"),
            "cross_entropy",
        ),
        Case("pool-hidden-and-last", (3, 6, 4, 5), ("tanh", "max_pool", "avg_pool")),
        Case(
            "parameters",
            (3, 5, 5, 5, 2),
            (
                manualgrad.LeakyReLU(negative_slope=0.2),
                manualgrad.ELU(alpha=0.5),
                manualgrad.GELU(approximate=False),
                "sigmoid",
            ),
            manualgrad.Huber(delta=0.3),
        ),
    ]
    return cases


CASES: tuple[Case, ...] = tuple(_build_cases())
CASES_BY_NAME: dict[str, Case] = {case.name: case for case in CASES}


@functools.cache
def make_inputs(
    case: Case, dtype: str, *, seed: int = 0, batch_size: int = BATCH_SIZE
) -> tuple[manualgrad.Params, jax.Array, jax.Array]:
    """theta, X (N, n_0) and Y for a case: reference.draw_case, the one recipe."""
    return reference.draw_case(
        seed,
        activations=case.activations,
        cost=case.cost,
        dims=case.dims,
        batch_size=batch_size,
        dtype=dtype,
        targets=case.targets,
    )


def assert_grads_close(got, expected, dtype, *, rtol: float | None = None) -> None:
    """Same structure, shapes and dtype, and within the dtype's tolerance.

    The tolerance is relative to each leaf's largest expected entry (see
    reference.tolerances), turned into chex's absolute-plus-relative form.
    """
    rtol = reference.tolerance(dtype) if rtol is None else rtol
    chex.assert_trees_all_equal_shapes_and_dtypes(got, expected)
    errors = reference.leaf_relative_errors(got, expected)
    leaves = jax.tree_util.tree_leaves(expected)
    scale = max(float(jnp.max(jnp.abs(leaf))) for leaf in leaves)
    for got_leaf, expected_leaf, error in zip(
        jax.tree_util.tree_leaves(got), leaves, errors, strict=True
    ):
        leaf_scale = max(float(jnp.max(jnp.abs(expected_leaf))), 1e-6 * scale)
        chex.assert_trees_all_close(
            got_leaf,
            expected_leaf,
            rtol=0,
            atol=rtol * leaf_scale,
            custom_message=f"relative error {error:.3g} over tolerance {rtol:g}",
        )


def random_params(
    rng: np.random.Generator,
    dims: tuple[int, ...],
    activations: tuple[str | manualgrad.Activation, ...] | None = None,
    *,
    dtype: jnp.dtype = jnp.float64,
    weight_scale: float = 1.0,
    bias_scale: float = 0.5,
) -> manualgrad.Params:
    """Params with W_l ~ weight_scale * N(0, 1/m_{l-1}) entries, drawn by NumPy (no compiling)."""
    widths = manualgrad.layer_input_widths(dims, activations)
    W = tuple(
        jnp.asarray(weight_scale * rng.normal(size=(n, m)) / np.sqrt(m), dtype)
        for n, m in zip(dims[1:], widths, strict=True)
    )
    b = tuple(jnp.asarray(bias_scale * rng.normal(size=n), dtype) for n in dims[1:])
    return manualgrad.Params(W, b)
