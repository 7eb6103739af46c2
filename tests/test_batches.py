"""Batches: Exercise 5 (N = 1 recovers the single-sample algorithms) and the extended cost."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import manualgrad
from tests._cases import CASES, DTYPES, assert_grads_close, make_inputs

PAIRS = [(2, 1), (5, 4), (5, 3)]  # (batch algorithm, single-sample algorithm)
SUBSET = (
    "deep-mixed",
    "pool-hidden-and-last",
    "softmax",
    "parameters",
    "width-one",
    "labels-norms",
    "norm-parameters",
    "custom-mixed",
)
CASE_SUBSET = [c for c in CASES if c.name in SUBSET]


@pytest.mark.parametrize("mode", manualgrad.JACOBIAN_MODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASE_SUBSET, ids=lambda c: c.name)
@pytest.mark.parametrize(("batch", "single"), PAIRS)
def test_batch_algorithm_with_one_row_is_the_single_sample_algorithm(
    batch, single, case, dtype, mode
):
    # Exercise 5: with N = 1 the rows of Z_l are the z_l, transposed.
    theta, X, Y = make_inputs(case, dtype, batch_size=1)
    got, sens = manualgrad.ALGORITHMS[batch](
        theta, X, Y, case.activations, case.cost, jacobian_mode=mode, return_sensitivities=True
    )
    want, want_sens = manualgrad.ALGORITHMS[single](
        theta,
        X[0],
        Y[0],
        case.activations,
        case.cost,
        jacobian_mode=mode,
        return_sensitivities=True,
    )
    assert_grads_close(got, want, dtype)
    assert_grads_close(jax.tree_util.tree_map(lambda s: s[0], sens), want_sens, dtype)


@pytest.mark.parametrize("case", CASE_SUBSET, ids=lambda c: c.name)
@pytest.mark.parametrize("batch", [2, 5])
def test_batch_gradient_is_the_sum_of_per_sample_gradients(batch, case):
    # The extended cost sums C over rows, so its gradient sums theirs.
    theta, X, Y = make_inputs(case, "float64", batch_size=4)
    got = manualgrad.ALGORITHMS[batch](theta, X, Y, case.activations, case.cost)
    per_row = [
        manualgrad.backprop_combined(theta, X[i], Y[i], case.activations, case.cost)
        for i in range(4)
    ]
    summed = jax.tree_util.tree_map(lambda *g: jnp.sum(jnp.stack(g), axis=0), *per_row)
    assert_grads_close(got, summed, "float64")
