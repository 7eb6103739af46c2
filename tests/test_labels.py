"""Integer labels as targets: a class index for cross-entropy, 0/1 for binary cross-entropy.

The case table runs labels through the whole matrix against reference.grad,
which reads a label by index (-log y_hat[y]). Here every result is also
compared with the same computation on float targets built in the test
(rows of the identity matrix), and bad labels are refused with the layer
named.
"""

from __future__ import annotations

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad
import reference
from tests._cases import DTYPES, assert_grads_close, random_params

NUMBERS = list(manualgrad.ALGORITHMS)
ROWS, WIDTH = 4, 3
CLASSES = np.array([2, 0, 1, 2])
BITS = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]])


def _network(activations, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    theta = random_params(rng, (4, 5, WIDTH), activations, dtype=dtype)
    X = jnp.asarray(rng.normal(size=(ROWS, 4)), dtype)
    return theta, X


def _one_hot(labels, dtype):
    return jnp.asarray(np.eye(WIDTH)[labels], dtype)  # row y of the identity: e_y


def _call(number, theta, X, y, activations, cost, **options):
    """Algorithm ``number`` on the batch, or on its first row."""
    algorithm = manualgrad.ALGORITHMS[number]
    if algorithm.batch:
        return algorithm(theta, X, y, activations, cost, **options)
    return algorithm(theta, X[0], y[0], activations, cost, **options)


CROSS_ENTROPY = [("tanh", "softmax"), ("relu", "sigmoid"), ("tanh", "softplus")]


@pytest.mark.parametrize("mode", manualgrad.JACOBIAN_MODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activations", CROSS_ENTROPY, ids="-".join)
@pytest.mark.parametrize("number", NUMBERS)
def test_class_index_is_the_one_hot_target(number, activations, dtype, mode):
    theta, X = _network(activations, dtype)
    labels = jnp.asarray(CLASSES)
    got = _call(number, theta, X, labels, activations, "cross_entropy", jacobian_mode=mode)
    rows = _call(number, theta, X, _one_hot(CLASSES, dtype), activations, "cross_entropy")
    assert_grads_close(got, rows, dtype)
    batch = manualgrad.ALGORITHMS[number].batch
    one_hot = _one_hot(CLASSES, dtype) if batch else _one_hot(CLASSES, dtype)[0]
    x = X if batch else X[0]
    assert_grads_close(got, reference.grad(theta, x, one_hot, activations, "cross_entropy"), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("number", NUMBERS)
def test_binary_integer_targets_are_the_same_numbers_as_floats(number, dtype):
    activations = ("elu", "sigmoid")
    theta, X = _network(activations, dtype)
    got = _call(number, theta, X, jnp.asarray(BITS), activations, "binary_cross_entropy")
    floats = jnp.asarray(BITS, dtype)
    assert_grads_close(
        got, _call(number, theta, X, floats, activations, "binary_cross_entropy"), dtype
    )
    x, y = (X, floats) if manualgrad.ALGORITHMS[number].batch else (X[0], floats[0])
    assert_grads_close(got, reference.grad(theta, x, y, activations, "binary_cross_entropy"), dtype)


def test_the_reference_oracles_read_labels_as_the_one_hot_rows():
    activations = ("tanh", "softmax")
    theta, X = _network(activations)
    labels, rows = jnp.asarray(CLASSES), _one_hot(CLASSES, "float64")
    for x, y, y_rows in ((X, labels, rows), (X[0], labels[0], rows[0])):
        for oracle in (reference.grad, reference.sensitivities, reference.numerical_grad):
            tol = (
                reference.FINITE_DIFFERENCE_TOLERANCE
                if oracle is reference.numerical_grad
                else reference.tolerance("float64")
            )
            got = oracle(theta, x, y, activations, "cross_entropy")
            expected = oracle(theta, x, y_rows, activations, "cross_entropy")
            assert reference.relative_error(got, expected) < tol


def test_labels_reach_the_other_entry_points():
    activations = ("tanh", "softmax")
    theta, X = _network(activations)
    labels, rows = jnp.asarray(CLASSES), _one_hot(CLASSES, "float64")
    expected = reference.grad(theta, X, rows, activations, "cross_entropy")
    mesh = manualgrad.batch_mesh()
    for got in (
        manualgrad.sharded_grad(2, theta, X, labels, activations, "cross_entropy", mesh=mesh),
        manualgrad.backprop_kronecker(theta, X, labels, activations, "cross_entropy"),
    ):
        assert_grads_close(got, expected, "float64")
    d = manualgrad.diagnostics(theta, X[0], labels[0], activations, "cross_entropy")
    sens = reference.sensitivities(theta, X[0], rows[0], activations, "cross_entropy")
    np.testing.assert_allclose(
        d.sensitivity_norms, [np.linalg.norm(g) for g in sens.grad_z], rtol=1e-10
    )


@pytest.mark.parametrize("number", NUMBERS)
def test_traced_labels_under_jit_and_vmap(number):
    activations = ("tanh", "softmax")
    theta, X = _network(activations)
    algorithm = manualgrad.ALGORITHMS[number]
    labels = jnp.asarray(CLASSES)
    expected = reference.grad(theta, X, _one_hot(CLASSES, "float64"), activations, "cross_entropy")
    if algorithm.batch:
        got = jax.jit(lambda t, x, y: algorithm(t, x, y, activations, "cross_entropy"))(
            theta, X, labels
        )
    else:
        per_row = jax.jit(
            jax.vmap(lambda x, y: algorithm(theta, x, y, activations, "cross_entropy"))
        )(X, labels)
        got = jax.tree_util.tree_map(lambda g: jnp.sum(g, axis=0), per_row)
    assert_grads_close(got, expected, "float64")


def test_a_traced_label_out_of_range_is_a_zero_row_as_documented():
    # Under jax.jit the values are unknown when the checks run; jax.nn.one_hot
    # makes an out-of-range index a row of zeros, which adds nothing to the loss.
    activations = ("tanh", "softmax")
    theta, X = _network(activations)
    out_of_range = jnp.asarray([2, 0, WIDTH, 2])
    got = jax.jit(lambda y: manualgrad.backprop_batch(theta, X, y, activations, "cross_entropy"))(
        out_of_range
    )
    rows = _one_hot(CLASSES, "float64").at[2].set(0.0)
    expected = reference.grad(theta, X, rows, activations, "cross_entropy")
    assert_grads_close(got, expected, "float64")


@pytest.mark.parametrize("number", NUMBERS)
def test_saturated_softmax_with_a_class_index_is_finite(number):
    W = jnp.array([[1000.0, 0.0], [0.0, -1000.0]])
    theta = manualgrad.Params((W,), (jnp.zeros(2),))
    X, labels = jnp.ones((1, 2)), jnp.asarray([1])  # the class whose probability underflows
    got = _call(number, theta, X, labels, ("softmax",), "cross_entropy")
    chex.assert_tree_all_finite(got)
    rows = jnp.asarray([[0.0, 1.0]])
    x, y = (X, rows) if manualgrad.ALGORITHMS[number].batch else (X[0], rows[0])
    assert_grads_close(got, reference.grad(theta, x, y, ("softmax",), "cross_entropy"), "float64")


# --- bad labels ----------------------------------------------------------------------------

LAYER = re.escape("the output of layer 2 (sigma_2 = softmax, width 3)")


@pytest.mark.parametrize("bad", [-1, WIDTH])
@pytest.mark.parametrize("number", NUMBERS)
def test_a_class_index_out_of_range_names_the_layer(number, bad):
    activations = ("tanh", "softmax")
    theta, X = _network(activations)
    labels = jnp.asarray(CLASSES).at[0].set(bad)
    where = "Y[0]" if manualgrad.ALGORITHMS[number].batch else "y"
    with pytest.raises(ValueError, match=rf"{re.escape(where)} = {bad} is not a class of {LAYER}"):
        _call(number, theta, X, labels, activations, "cross_entropy")


@pytest.mark.parametrize("number", NUMBERS)
def test_two_is_not_a_binary_target(number):
    activations = ("tanh", "sigmoid")
    theta, X = _network(activations)
    bits = jnp.asarray(BITS).at[0, 1].set(2)
    where = "Y[0, 1]" if manualgrad.ALGORITHMS[number].batch else "y[1]"
    with pytest.raises(ValueError, match=rf"{re.escape(where)} = 2 is not a binary target"):
        _call(number, theta, X, bits, activations, "binary_cross_entropy")


@pytest.mark.parametrize("number", NUMBERS)
def test_a_float_where_a_class_index_belongs_names_the_layer(number):
    activations = ("tanh", "softmax")
    theta, X = _network(activations)
    floats = jnp.asarray(CLASSES, "float64")
    with pytest.raises(TypeError, match=rf"class labels of {LAYER} need an integer dtype"):
        _call(number, theta, X, floats, activations, "cross_entropy")


def test_integer_targets_of_another_shape_or_for_another_cost_are_refused():
    activations = ("tanh", "softmax")
    theta, X = _network(activations)
    with pytest.raises(TypeError, match=r"class indices of shape \(N,\)"):
        manualgrad.backprop_batch(theta, X, jnp.asarray(BITS), activations, "cross_entropy")
    with pytest.raises(
        TypeError, match=r"cost mse needs floating targets for the output of layer 2"
    ):
        manualgrad.backprop_batch(theta, X, jnp.asarray(BITS), activations, "mse")
    with pytest.raises(ValueError, match="Y holds 3 class labels but X has 4 rows"):
        manualgrad.backprop_batch(theta, X, jnp.asarray(CLASSES[:3]), activations, "cross_entropy")


def test_the_reference_oracles_refuse_the_same_labels():
    activations = ("tanh", "softmax")
    theta, X = _network(activations)
    for oracle in (reference.grad, reference.sensitivities, reference.numerical_grad):
        with pytest.raises(ValueError, match=r"Y\[1\] = 3 is not a class"):
            oracle(theta, X, jnp.asarray([0, 3, 1, 1]), activations, "cross_entropy")
