"""Your own activation: manualgrad.Custom and reference.check_activation.

The case table runs every Custom of tests/_custom.py through the whole
matrix; here: that a hand-written Jacobian is what the algorithms use, that
a Custom is a jit static, that check_activation finds a wrong Jacobian and
says where, and that bad input names the layer.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad
import reference
from tests._cases import assert_grads_close, random_params
from tests._custom import (
    CUSTOM_ACTIVATIONS,
    LOGSUMEXP_POOL,
    MISH,
    SCALED_TANH,
    TANH_CUMSUM,
    scaled_tanh,
    scaled_tanh_jacobian,
    tanh_cumsum,
)

F64 = "float64"
NUMBERS = list(manualgrad.ALGORITHMS)


def _inputs(dims, activations, *, rows=3, seed=0):
    rng = np.random.default_rng(seed)
    theta = random_params(rng, dims, activations)
    out = manualgrad.get_activation(activations[-1]).output_width(dims[-1])
    X = jnp.asarray(rng.normal(size=(rows, dims[0])))
    Y = jnp.asarray(rng.normal(size=(rows, out)))
    return theta, X, Y


def _run(number, theta, X, Y, activations, **options):
    algorithm = manualgrad.ALGORITHMS[number]
    if algorithm.batch:
        return algorithm(theta, X, Y, activations, "mse", **options)
    return algorithm(theta, X[0], Y[0], activations, "mse", **options)


def _expected(number, theta, X, Y, activations):
    if manualgrad.ALGORITHMS[number].batch:
        return reference.grad(theta, X, Y, activations, "mse")
    return reference.grad(theta, X[0], Y[0], activations, "mse")


# A deliberately wrong Jacobian: tanh' taken as 1 - tanh (not 1 - tanh^2).
def _wrong_tanh_jacobian(z):
    return manualgrad.DiagonalJacobian(1 - jnp.tanh(z))


WRONG_TANH = manualgrad.Custom("wrong_tanh", jnp.tanh, jacobian=_wrong_tanh_jacobian)


def _wrong_from_output(a):
    return manualgrad.DiagonalJacobian(1 - a)


WRONG_FROM_OUTPUT = manualgrad.Custom(
    "tanh_wrong_output_form",
    jnp.tanh,
    jacobian=lambda z: manualgrad.DiagonalJacobian(1 - jnp.tanh(z) ** 2),
    jacobian_from_output=_wrong_from_output,
)


@pytest.mark.parametrize("number", NUMBERS)
def test_a_hand_written_jacobian_is_the_one_every_algorithm_uses(number):
    # With the wrong Jacobian at the hidden layer, every algorithm is wrong
    # by exactly as much as backprop with 1 - tanh in place of tanh' is.
    dims, acts = (3, 5, 2), (WRONG_TANH, "identity")
    theta, X, Y = _inputs(dims, acts)
    got = _run(number, theta, X, Y, acts)
    right = _expected(number, theta, X, Y, acts)
    assert reference.relative_error(got, right) > 1e-2
    # Backprop with the wrong derivative, written out for one or all rows.
    Z1 = X @ theta.W[0].T + theta.b[0][None, :]
    A1 = jnp.tanh(Z1)
    G2 = A1 @ theta.W[1].T + theta.b[1][None, :] - Y  # mse: y_hat - y, identity output
    G1 = (G2 @ theta.W[1]) * (1 - A1)
    rows = slice(None) if manualgrad.ALGORITHMS[number].batch else slice(0, 1)
    G1, G2, A1, X = G1[rows], G2[rows], A1[rows], X[rows]
    wrong = manualgrad.Params((G1.T @ X, G2.T @ A1), (G1.sum(0), G2.sum(0)))
    assert_grads_close(got, wrong, F64)


def test_algorithm_3_uses_jacobian_from_output_and_the_others_do_not():
    dims, acts = (3, 5, 2), (WRONG_FROM_OUTPUT, "identity")
    theta, X, Y = _inputs(dims, acts)
    for number in NUMBERS:
        error = reference.relative_error(
            _run(number, theta, X, Y, acts), _expected(number, theta, X, Y, acts)
        )
        if number == 3:
            assert error > 1e-2
        else:
            assert error < reference.tolerance(F64)


@pytest.mark.parametrize("mode", manualgrad.JACOBIAN_MODES)
def test_without_a_jacobian_it_is_jacfwd_of_fn_a_dense_matrix(mode):
    z = jnp.asarray([0.3, -1.2, 2.0], F64)
    jac = MISH.jacobian(z)
    assert type(jac) is manualgrad.DenseJacobian
    np.testing.assert_allclose(jac.dense(), reference.jacobian(MISH, z), rtol=1e-12, atol=1e-15)
    assert not MISH.has_output_jacobian
    with pytest.raises(NotImplementedError, match="mish"):
        MISH.jacobian_from_output(MISH(z))


def test_a_matrix_returned_as_the_jacobian_is_a_dense_jacobian():
    jac = TANH_CUMSUM.jacobian(jnp.asarray([0.1, 0.2, -0.4], F64))
    assert type(jac) is manualgrad.DenseJacobian
    assert type(SCALED_TANH.jacobian(jnp.zeros(3, F64))) is manualgrad.DiagonalJacobian
    assert type(LOGSUMEXP_POOL.jacobian(jnp.zeros(3, F64))) is manualgrad.RowJacobian


def test_fn_acts_on_the_last_axis_of_a_batch():
    Z = jnp.asarray([[0.1, 0.2, -0.4], [1.0, -2.0, 0.5]], F64)
    np.testing.assert_allclose(TANH_CUMSUM(Z), np.tanh(np.cumsum(np.asarray(Z), axis=1)))
    assert LOGSUMEXP_POOL(Z).shape == (2, 1)
    assert LOGSUMEXP_POOL.output_width(7) == 1


def test_custom_is_hashable_equal_by_its_callables_and_a_jit_static():
    same = manualgrad.Custom(
        "scaled_tanh",
        scaled_tanh,
        jacobian=scaled_tanh_jacobian,
        jacobian_from_output=SCALED_TANH._jacobian_from_output,
        output_range=SCALED_TANH.output_range,
        derivative_bound=SCALED_TANH.derivative_bound,
    )
    assert same == SCALED_TANH and hash(same) == hash(SCALED_TANH)
    other = manualgrad.Custom("scaled_tanh", scaled_tanh)
    assert other != SCALED_TANH
    traces = []

    def apply(z, activation):
        traces.append(activation)
        return activation(z)

    apply = jax.jit(apply, static_argnums=1)
    z = jnp.ones(3, F64)
    apply(z, SCALED_TANH)
    apply(z, same)  # equal and equally hashed: the compiled program is reused
    apply(z, other)
    assert len(traces) == 2


def test_the_jacobian_method_and_the_keyword_names():
    activation = manualgrad.Custom(
        name="c", fn=tanh_cumsum, jacobian=None, jacobian_from_output=None
    )
    assert callable(activation.jacobian) and activation.jacobian.__self__ is activation
    assert activation.output_width(4) == 4 and str(activation) == "c"
    assert repr(SCALED_TANH).startswith("Custom('scaled_tanh', fn=scaled_tanh, jacobian=")
    assert (SCALED_TANH.smooth, MISH.derivative_bound) == (True, math.inf)


def test_a_non_smooth_custom_counts_every_entry_as_near_a_kink():
    kinked = manualgrad.Custom("abs", jnp.abs, smooth=False)
    assert not kinked.smooth
    assert bool(jnp.all(kinked.near_kink(jnp.ones((2, 3)), 1e-6)))
    assert not bool(jnp.any(MISH.near_kink(jnp.ones((2, 3)), 1e-6)))


def test_derivative_bound_and_output_range_reach_theorem_16_and_the_costs():
    assert manualgrad.get_cost("cross_entropy").accepts_output(SCALED_TANH) is False
    assert manualgrad.get_cost("mse").accepts_output(SCALED_TANH)
    positive = manualgrad.Custom("exp", jnp.exp, output_range=manualgrad.Interval(0.0, math.inf))
    assert manualgrad.get_cost("cross_entropy").accepts_output(positive)
    theta, X, Y = _inputs((3, 4, 4, 2), (SCALED_TANH, SCALED_TANH, "identity"))
    d = manualgrad.diagnostics(theta, X[0], Y[0], (SCALED_TANH, SCALED_TANH, "identity"), "mse")
    assert d.r == SCALED_TANH.derivative_bound
    assert np.all(np.asarray(d.sensitivity_norms) <= np.asarray(d.bound) * (1 + 1e-10))


# --- reference.check_activation ------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", CUSTOM_ACTIVATIONS, ids=str)
def test_check_activation_passes_a_right_jacobian_at_one_or_several_points(activation, dtype):
    z = 1.5 * jax.random.normal(jax.random.PRNGKey(0), (4, 5), dtype)
    reference.check_activation(activation, z)
    reference.check_activation(activation, z[0])


@pytest.mark.parametrize("name", sorted(manualgrad.ACTIVATIONS))
def test_check_activation_passes_every_built_in_activation(name):
    # Random points, away from any kink or tie.
    z = 1.5 * jax.random.normal(jax.random.PRNGKey(1), (3, 6), F64)
    reference.check_activation(name, z)


def test_check_activation_names_the_point_and_the_entry():
    z = jnp.asarray([[0.0, 0.0, 0.0], [0.5, -1.0, 2.0]], F64)
    # At z = 0 tanh = 0, so 1 - tanh = 1 - tanh^2: the first point agrees.
    with pytest.raises(AssertionError) as error:
        reference.check_activation(WRONG_TANH, z)
    message = str(error.value)
    assert "wrong_tanh: at point 1 (z = [0.5, -1.0, 2.0])" in message
    # The worst entry is the diagonal entry at z = -1: 1 - tanh(-1) = 1.76 vs 0.42.
    assert "the Jacobian differs from jax.jacfwd at entry (1, 1)" in message
    assert f"got {1 - np.tanh(-1.0):.10g}, expected {1 - np.tanh(-1.0) ** 2:.10g}" in message


def test_check_activation_checks_jacobian_from_output():
    with pytest.raises(AssertionError, match=r"point 0 .*jacobian_from_output differs"):
        reference.check_activation(WRONG_FROM_OUTPUT, jnp.asarray([0.5, -1.0], F64))


@manualgrad.jacobians._pytree
class _BadProducts(manualgrad.Jacobian):
    """A diagonal whose dense() is right but whose v @ J forgets the diagonal."""

    diag: jax.Array

    @property
    def shape(self):
        return (self.diag.shape[0],) * 2

    def matvec(self, v):
        return self.diag * v

    def rmatvec(self, v):
        return v

    def dense(self):
        return jnp.diag(self.diag)


def test_check_activation_checks_the_products_the_algorithms_take():
    bad = manualgrad.Custom(
        "bad_products", jnp.tanh, jacobian=lambda z: _BadProducts(1 - jnp.tanh(z) ** 2)
    )
    with pytest.raises(AssertionError, match=r"point 0 .*v @ Jac \(eqs\. 3\.2, 4\.2\) differs"):
        reference.check_activation(bad, jnp.asarray([0.5, -1.0], F64))


def test_check_activation_reports_a_jacobian_of_the_wrong_shape():
    transposed = manualgrad.Custom(
        "pool_as_column",
        LOGSUMEXP_POOL._fn,
        jacobian=lambda z: jax.nn.softmax(z)[:, None],
        output_width=1,
    )
    with pytest.raises(AssertionError, match=r"Jacobian of shape \(3, 1\).*shape \(1, 3\)"):
        reference.check_activation(transposed, jnp.zeros(3, F64))


def test_check_activation_refuses_bad_points():
    with pytest.raises(ValueError, match=r"one point \(n,\) or several \(k, n\)"):
        reference.check_activation(MISH, jnp.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match="floating"):
        reference.check_activation(MISH, jnp.zeros(3, "int32"))


# --- bad input -----------------------------------------------------------------------------


def _call(number, activations, dims=(3, 4, 2), dtype="float32"):
    theta = manualgrad.init_params(jax.random.PRNGKey(0), dims, activations, dtype=dtype)
    out = manualgrad.get_activation(activations[-1]).output_width(dims[-1])
    x, y = jnp.ones(dims[0], dtype), jnp.ones(out, dtype)
    algorithm = manualgrad.ALGORITHMS[number]
    if algorithm.batch:
        x, y = x[None], y[None]
    return algorithm(theta, x, y, activations, "mse")


def _first_half(z):
    return z[..., : z.shape[-1] // 2]


@pytest.mark.parametrize("number", NUMBERS)
def test_fn_that_changes_the_width_without_output_width_names_the_layer(number):
    halve = manualgrad.Custom("first_half", _first_half)
    message = "layer 1: custom activation 'first_half': fn maps z of shape (4,) to shape (2,)"
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        _call(number, (halve, "identity"))
    assert "pass output_width" in str(error.value)
    assert f"Algorithm {number}" in str(error.value)
    # With output_width (here a function of n) it is a network like any other.
    fitted = manualgrad.Custom("first_half", _first_half, output_width=lambda n: n // 2)
    theta, X, Y = _inputs((3, 4, 2), (fitted, "identity"))
    assert_grads_close(
        _run(number, theta, X, Y, (fitted, "identity")),
        _expected(number, theta, X, Y, (fitted, "identity")),
        F64,
    )


def _transposed_row(z):
    return manualgrad.DenseJacobian(jax.nn.softmax(z)[:, None])


@pytest.mark.parametrize("number", NUMBERS)
def test_jacobian_of_the_wrong_shape_names_the_layer(number):
    wrong = manualgrad.Custom(
        "lse_column", LOGSUMEXP_POOL._fn, jacobian=_transposed_row, output_width=1
    )
    message = (
        r"layer 2: custom activation 'lse_column': jacobian at a point of shape \(2,\) "
        r"gives a Jacobian of shape \(2, 1\).*shape \(1, 2\)"
    )
    with pytest.raises(ValueError, match=message):
        _call(number, ("tanh", wrong))


def test_jacobian_that_returns_no_matrix_or_of_another_dtype_is_a_type_error():
    nothing = manualgrad.Custom("nothing", jnp.tanh, jacobian=lambda z: "diag")
    with pytest.raises(TypeError, match="layer 1: custom activation 'nothing': jacobian"):
        _call(1, (nothing, "identity"))
    wide = manualgrad.Custom(
        "wide", jnp.tanh, jacobian=lambda z: jnp.eye(z.shape[0], dtype="float64")
    )
    with pytest.raises(TypeError, match="float64 Jacobian at a float32 point"):
        _call(4, (wide, "identity"))
    recast = manualgrad.Custom("recast", lambda z: z.astype("float64"))
    with pytest.raises(TypeError, match="fn maps float32 z to float64"):
        _call(2, (recast, "identity"))


class _Unhashable:
    """A width function that cannot be a jax.jit static."""

    __hash__ = None

    def __call__(self, n):
        return n


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="built-in activation"):
        manualgrad.Custom("relu", jnp.tanh)
    with pytest.raises(ValueError, match="non-empty string"):
        manualgrad.Custom("", jnp.tanh)
    with pytest.raises(TypeError, match="fn must be callable"):
        manualgrad.Custom("x", 3.0)
    with pytest.raises(TypeError, match="jacobian must be callable"):
        manualgrad.Custom("x", jnp.tanh, jacobian=np.eye(3))
    with pytest.raises(ValueError, match="output_width must be >= 1"):
        manualgrad.Custom("x", jnp.tanh, output_width=0)
    with pytest.raises(TypeError, match=r"output_range must be a manualgrad\.Interval"):
        manualgrad.Custom("x", jnp.tanh, output_range=(0, 1))
    with pytest.raises(TypeError, match="hashable"):
        manualgrad.Custom("x", jnp.tanh, output_width=_Unhashable())
