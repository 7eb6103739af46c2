"""Every activation's structured Jacobian equals jax.jacfwd of its forward pass."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad
import reference
from tests._cases import DTYPES
from tests._custom import CUSTOM_ACTIVATIONS

BUILT_IN = [manualgrad.get_activation(name) for name in manualgrad.ACTIVATIONS] + [
    manualgrad.LeakyReLU(negative_slope=0.3),
    manualgrad.ELU(alpha=2.0),
    manualgrad.GELU(approximate=False),
    manualgrad.LayerNorm(eps=0.5),
    manualgrad.RMSNorm(eps=0.1),
]
ACTIVATIONS = BUILT_IN + list(CUSTOM_ACTIVATIONS)
IDS = [repr(a) for a in ACTIVATIONS]
WIDTH = 6


def point(dtype: str, seed: int = 0) -> jax.Array:
    # Scaled so that relu, hard_tanh and friends see both sides of their kinks.
    return 2 * jax.random.normal(jax.random.PRNGKey(seed), (WIDTH,), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=IDS)
def test_dense_jacobian_matches_jacfwd(activation, dtype):
    z = point(dtype)
    jac = activation.jacobian(z)
    expected = reference.jacobian(activation, z)
    m = activation.output_width(WIDTH)
    chex.assert_shape(jac.dense(), (m, WIDTH))
    assert jac.shape == (m, WIDTH)
    chex.assert_trees_all_close(
        jac.dense(), expected, rtol=reference.tolerance(dtype), atol=reference.tolerance(dtype)
    )
    assert jac.dense().dtype == jnp.dtype(dtype)


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=IDS)
def test_structured_products_equal_dense_products(activation):
    z = point("float64")
    jac = activation.jacobian(z)
    dense = jac.dense()
    m = activation.output_width(WIDTH)
    v_in = jax.random.normal(jax.random.PRNGKey(1), (WIDTH,), "float64")
    v_out = jax.random.normal(jax.random.PRNGKey(2), (m,), "float64")
    tol = reference.tolerance("float64")
    chex.assert_trees_all_close(jac @ v_in, dense @ v_in, rtol=tol, atol=tol)
    chex.assert_trees_all_close(jac.T @ v_out, dense.T @ v_out, rtol=tol, atol=tol)
    chex.assert_trees_all_close(v_out @ jac, v_out @ dense, rtol=tol, atol=tol)
    chex.assert_trees_all_close(v_in @ jac.T, v_in @ dense.T, rtol=tol, atol=tol)
    chex.assert_trees_all_close(np.asarray(v_out) @ jac, v_out @ dense, rtol=tol, atol=tol)


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=IDS)
def test_jacobian_from_output_equals_jacobian_from_input(activation):
    z = point("float64")
    if not activation.has_output_jacobian:
        with pytest.raises(NotImplementedError, match=activation.name):
            activation.jacobian_from_output(activation(z))
        return
    chex.assert_trees_all_close(
        activation.jacobian_from_output(activation(z)).dense(),
        reference.jacobian(activation, z),
        rtol=1e-12,
        atol=1e-12,
    )


OUTPUT_FORM = {"identity", "sigmoid", "tanh", "relu", "softmax", "arctan", "softplus"}


def test_output_form_is_offered_where_the_mathematics_allows():
    offered = {a.name for a in ACTIVATIONS if a.has_output_jacobian}
    assert offered >= OUTPUT_FORM
    # hard_tanh: a = 1 comes from every z >= 1; pooling and radial sigmoid
    # lose the point; silu and gelu are not injective; the norms' output
    # gives their scale only through 1 - mean(a^2) (docs/ERRATA.md).
    assert not offered & {
        "hard_tanh",
        "max_pool",
        "avg_pool",
        "radial_sigmoid",
        "silu",
        "gelu",
        "layer_norm",
        "rms_norm",
    }


STRUCTURE = {
    "softmax": manualgrad.SoftmaxJacobian,
    "max_pool": manualgrad.RowJacobian,
    "avg_pool": manualgrad.RowJacobian,
    "radial_sigmoid": manualgrad.ScaledIdentityPlusLowRank,
    "layer_norm": manualgrad.ScaledIdentityPlusLowRank,
    "rms_norm": manualgrad.ScaledIdentityPlusLowRank,
}


@pytest.mark.parametrize("activation", BUILT_IN, ids=[repr(a) for a in BUILT_IN])
def test_jacobian_has_the_structure_of_its_activation(activation):
    expected = STRUCTURE.get(activation.name, manualgrad.DiagonalJacobian)
    assert type(activation.jacobian(point("float32"))) is expected
    assert isinstance(activation, manualgrad.Pointwise) == (expected is manualgrad.DiagonalJacobian)


KINKS = [
    ("relu", 0.0, 0.0),
    ("hard_tanh", 1.0, 1.0),
    ("hard_tanh", -1.0, 1.0),
    ("leaky_relu", 0.0, 1.0),
    ("elu", 0.0, 1.0),
]


@pytest.mark.parametrize(("name", "at", "derivative"), KINKS)
def test_derivative_at_kink_follows_jax_nn(name, at, derivative):
    activation = manualgrad.get_activation(name)
    z = jnp.array([at, at + 3.0, at - 3.0], "float64")
    got = activation.jacobian(z).dense()
    assert got[0, 0] == derivative
    chex.assert_trees_all_close(got, reference.jacobian(activation, z))


def test_elu_derivative_at_zero_is_alpha():
    elu = manualgrad.ELU(alpha=2.5)
    assert elu.jacobian(jnp.zeros(1, "float64")).dense()[0, 0] == 2.5


def test_max_pool_splits_a_tie_evenly_like_jax():
    z = jnp.array([1.0, 3.0, -2.0, 3.0], "float64")
    row = manualgrad.MaxPool().jacobian(z).dense()
    np.testing.assert_array_equal(row, [[0.0, 0.5, 0.0, 0.5]])
    np.testing.assert_array_equal(row, reference.jacobian("max_pool", z))


def test_max_pool_without_tie_is_one_hot_row():
    z = jnp.array([1.0, 3.0, -2.0], "float64")
    np.testing.assert_array_equal(manualgrad.MaxPool().jacobian(z).dense(), [[0.0, 1.0, 0.0]])


def test_radial_sigmoid_at_zero_is_zero_with_zero_jacobian():
    z = jnp.zeros(4, "float64")
    radial = manualgrad.RadialSigmoid()
    np.testing.assert_array_equal(radial(z), np.zeros(4))
    np.testing.assert_array_equal(radial.jacobian(z).dense(), np.zeros((4, 4)))
    np.testing.assert_array_equal(reference.jacobian(radial, z), np.zeros((4, 4)))


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=IDS)
def test_jacobians_batch_under_vmap(activation):
    Z = jax.random.normal(jax.random.PRNGKey(3), (4, WIDTH), "float64")
    G = jax.random.normal(jax.random.PRNGKey(4), (4, activation.output_width(WIDTH)), "float64")
    jacs = jax.vmap(activation.jacobian)(Z)
    got = jax.vmap(lambda g, j: g @ j)(G, jacs)
    expected = jnp.stack([G[i] @ reference.jacobian(activation, Z[i]) for i in range(4)])
    chex.assert_trees_all_close(got, expected, rtol=1e-12, atol=1e-12)


def _intermediate_shapes(fn, *args) -> str:
    return str(jax.make_jaxpr(fn)(*args))


UNMATERIALIZED = {
    "pointwise-softmax": (("relu", "softmax"), (3, 7, 5)),
    "norms-radial_sigmoid": (("layer_norm", "rms_norm", "radial_sigmoid"), (3, 7, 5, 6)),
}


@pytest.mark.parametrize("network", list(UNMATERIALIZED))
@pytest.mark.parametrize("number", list(manualgrad.ALGORITHMS))
def test_structured_mode_builds_no_square_jacobian(number, network):
    # The hidden widths appear nowhere else, so a [7,7], [5,5] or [6,6] array
    # in the program can only be a materialized Jacobian.
    acts, dims = UNMATERIALIZED[network]
    theta = manualgrad.init_params(jax.random.PRNGKey(0), dims, dtype="float32")
    X = jnp.ones((2, 3), "float32")
    Y = jnp.full((2, dims[-1]), 0.2, "float32")
    algorithm = manualgrad.ALGORITHMS[number]
    x, y = (X, Y) if algorithm.batch else (X[0], Y[0])

    def run(mode):
        return _intermediate_shapes(
            lambda t, x, y: algorithm(t, x, y, acts, "mse", jacobian_mode=mode), theta, x, y
        )

    structured, dense = run("structured"), run("dense")
    for n in dims[1:]:
        assert f"{n},{n}]" not in structured
        assert f"{n},{n}]" in dense
