"""Every algorithm equals jax.grad of a separately written forward pass.

The matrix: algorithms 1-5 x every case of the table (every activation in
hidden and output position, every cost, awkward shapes) x float32/float64 x
structured/dense Jacobians. Then the same under jax.jit and jax.vmap applied
from outside, and with jit disabled altogether.
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad
import reference
from tests._cases import CASES, CASES_BY_NAME, assert_grads_close, make_inputs

ALGORITHM_NUMBERS = tuple(manualgrad.ALGORITHMS)
MODES = manualgrad.JACOBIAN_MODES


@functools.cache
def expected_grads(case_name: str, dtype: str, batch: bool) -> manualgrad.Params:
    case = CASES_BY_NAME[case_name]
    theta, X, Y = make_inputs(case, dtype)
    if batch:
        return reference.grad(theta, X, Y, case.activations, case.cost)
    return reference.grad(theta, X[0], Y[0], case.activations, case.cost)


def run(number: int, case, dtype: str, **options) -> manualgrad.Params:
    """Algorithm ``number`` on the case's inputs: the batch, or its first row."""
    algorithm = manualgrad.ALGORITHMS[number]
    theta, X, Y = make_inputs(case, dtype)
    if algorithm.batch:
        return algorithm(theta, X, Y, case.activations, case.cost, **options)
    return algorithm(theta, X[0], Y[0], case.activations, case.cost, **options)


def test_algorithms_table_is_the_notes_numbering():
    assert sorted(manualgrad.ALGORITHMS) == [1, 2, 3, 4, 5]
    assert [n for n, f in manualgrad.ALGORITHMS.items() if f.batch] == [2, 5]
    assert all(f.number == n for n, f in manualgrad.ALGORITHMS.items())


#: (dtype, Jacobian mode) pairs of the full case table. The dense mode is
#: the same mathematics in another form, so it runs in float64, where a
#: wrong entry cannot hide in rounding; float32 dense runs on the outer-jit
#: cases (test_dense_mode_in_float32_matches_jax_grad) and in ``manualgrad
#: verify``'s default matrix.
DTYPE_MODES = (("float32", "structured"), ("float64", "structured"), ("float64", "dense"))


@pytest.mark.parametrize(("dtype", "mode"), DTYPE_MODES, ids=lambda v: v)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("number", ALGORITHM_NUMBERS)
def test_algorithm_matches_jax_grad(number, case, dtype, mode):
    got = run(number, case, dtype, jacobian_mode=mode)
    expected = expected_grads(case.name, dtype, manualgrad.ALGORITHMS[number].batch)
    assert_grads_close(got, expected, dtype)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_gradients_have_the_shapes_and_dtype_of_theta(case):
    for number in ALGORITHM_NUMBERS:
        theta, _, _ = make_inputs(case, "float32")
        grads = run(number, case, "float32")
        assert isinstance(grads, manualgrad.Params)
        assert isinstance(grads.W, tuple) and isinstance(grads.b, tuple)
        chex.assert_trees_all_equal_shapes_and_dtypes(grads, theta)


OUTER_CASES = (
    "deep-mixed",
    "pool-hidden-and-last",
    "parameters",
    "one-layer",
    "labels-norms",
    "custom-mixed",
)


@pytest.mark.parametrize("case_name", OUTER_CASES)
@pytest.mark.parametrize("number", ALGORITHM_NUMBERS)
def test_dense_mode_in_float32_matches_jax_grad(number, case_name):
    case = CASES_BY_NAME[case_name]
    got = run(number, case, "float32", jacobian_mode="dense")
    expected = expected_grads(case.name, "float32", manualgrad.ALGORITHMS[number].batch)
    assert_grads_close(got, expected, "float32")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case_name", OUTER_CASES)
@pytest.mark.parametrize("number", ALGORITHM_NUMBERS)
def test_algorithm_under_outer_jit_matches_jax_grad(number, case_name, mode):
    case = CASES_BY_NAME[case_name]
    algorithm = manualgrad.ALGORITHMS[number]
    theta, X, Y = make_inputs(case, "float64")
    if not algorithm.batch:
        X, Y = X[0], Y[0]

    @jax.jit
    def step(theta, x, y):
        grads = algorithm(theta, x, y, case.activations, case.cost, jacobian_mode=mode)
        # A gradient-descent step, so the gradient flows on through jitted code.
        return jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, theta, grads)

    expected = jax.tree_util.tree_map(
        lambda p, g: p - 0.1 * g, theta, expected_grads(case.name, "float64", algorithm.batch)
    )
    assert_grads_close(step(theta, X, Y), expected, "float64")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case_name", OUTER_CASES)
@pytest.mark.parametrize("number", [1, 3, 4])
def test_vmap_of_single_sample_algorithm_sums_to_batch_gradient(number, case_name, mode):
    case = CASES_BY_NAME[case_name]
    algorithm = manualgrad.ALGORITHMS[number]
    theta, X, Y = make_inputs(case, "float64")
    per_row = jax.jit(
        jax.vmap(
            lambda x, y: algorithm(theta, x, y, case.activations, case.cost, jacobian_mode=mode)
        )
    )(X, Y)
    chex.assert_tree_shape_prefix(per_row, (X.shape[0],))
    summed = jax.tree_util.tree_map(lambda g: jnp.sum(g, axis=0), per_row)
    assert_grads_close(summed, expected_grads(case.name, "float64", True), "float64")


@pytest.mark.parametrize("case_name", ["pool-hidden-and-last"])
@pytest.mark.parametrize("number", ALGORITHM_NUMBERS)
def test_algorithm_without_jit_matches_jax_grad(number, case_name):
    case = CASES_BY_NAME[case_name]
    with jax.disable_jit():
        got = run(number, case, "float64")
    expected = expected_grads(case.name, "float64", manualgrad.ALGORITHMS[number].batch)
    assert_grads_close(got, expected, "float64")


@pytest.mark.parametrize("number", ALGORITHM_NUMBERS)
def test_algorithm_accepts_numpy_inputs_and_leaves_them_unchanged(number):
    case = CASES_BY_NAME["non-square"]
    theta, X, Y = make_inputs(case, "float64")
    theta_np = manualgrad.Params([np.array(w) for w in theta.W], [np.array(v) for v in theta.b])
    X_np, Y_np = np.array(X), np.array(Y)
    before = [a.copy() for a in (*theta_np.W, *theta_np.b, X_np, Y_np)]
    algorithm = manualgrad.ALGORITHMS[number]
    if algorithm.batch:
        got = algorithm(theta_np, X_np, Y_np, list(case.activations), case.cost)
    else:
        got = algorithm(theta_np, X_np[0], Y_np[0], list(case.activations), case.cost)
    assert_grads_close(got, expected_grads(case.name, "float64", algorithm.batch), "float64")
    for old, new in zip(before, (*theta_np.W, *theta_np.b, X_np, Y_np), strict=True):
        np.testing.assert_array_equal(old, new)


SMOOTH_CASES = (
    "cross_entropy-softmax",
    "binary_cross_entropy-sigmoid",
    "radial_sigmoid",
    "gelu",
    "layer_norm",
    "rms_norm",
    "labels-norms",
    "custom-mixed",
    "custom-tanh_cumsum",
)


@pytest.mark.parametrize("case_name", SMOOTH_CASES)
@pytest.mark.parametrize("number", ALGORITHM_NUMBERS)
def test_algorithm_matches_float64_central_differences(number, case_name):
    # A second oracle that does not trust autodiff; smooth activations only,
    # since a difference quotient across a kink is no derivative.
    case = CASES_BY_NAME[case_name]
    theta, X, Y = make_inputs(case, "float64")
    algorithm = manualgrad.ALGORITHMS[number]
    if not algorithm.batch:
        X, Y = X[0], Y[0]
    got = algorithm(theta, X, Y, case.activations, case.cost)
    numerical = reference.numerical_grad(theta, X, Y, case.activations, case.cost)
    assert reference.relative_error(got, numerical) < reference.FINITE_DIFFERENCE_TOLERANCE
