"""Bad input gets a clear error that names what is wrong and where."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad
import reference

NUMBERS = list(manualgrad.ALGORITHMS)
DTYPE = "float32"


def network(dims=(3, 4, 2), dtype=DTYPE):
    return manualgrad.init_params(jax.random.PRNGKey(0), dims, dtype=dtype)


def call(number, theta, x, y, activations=("tanh", "identity"), cost="mse", **options):
    """Calls algorithm ``number``, giving batch algorithms a batch of one row."""
    algorithm = manualgrad.ALGORITHMS[number]
    if algorithm.batch:
        x, y = jnp.asarray(x)[None], jnp.asarray(y)[None]
    return algorithm(theta, x, y, activations, cost, **options)


def sample(dtype=DTYPE):
    return jnp.ones(3, dtype), jnp.ones(2, dtype)


@pytest.mark.parametrize("number", NUMBERS)
def test_weight_that_does_not_fit_previous_layer_names_the_layer(number):
    W1, _ = network().W
    theta = manualgrad.Params((W1, jnp.ones((2, 5), DTYPE)), network().b)
    with pytest.raises(ValueError, match=re.escape("W_2 has shape (2, 5)")) as error:
        call(number, theta, *sample())
    assert "layer 1 outputs 4 features" in str(error.value)
    assert f"Algorithm {number}" in str(error.value)


@pytest.mark.parametrize("number", NUMBERS)
def test_bias_of_wrong_length_names_the_layer(number):
    theta = network()
    theta = manualgrad.Params(theta.W, (theta.b[0], jnp.ones(3, DTYPE)))
    with pytest.raises(ValueError, match=re.escape("b_2 has shape (3,)")):
        call(number, theta, *sample())


@pytest.mark.parametrize("number", NUMBERS)
def test_input_width_must_match_first_weight(number):
    with pytest.raises(ValueError, match=r"width 5.*W_1 has shape \(4, 3\)"):
        call(number, network(), jnp.ones(5, DTYPE), jnp.ones(2, DTYPE))


@pytest.mark.parametrize("number", NUMBERS)
def test_target_width_must_match_output(number):
    with pytest.raises(ValueError, match=r"[yY] has shape .*output of layer 2"):
        call(number, network(), jnp.ones(3, DTYPE), jnp.ones(3, DTYPE))


@pytest.mark.parametrize("number", NUMBERS)
def test_one_activation_per_layer(number):
    with pytest.raises(ValueError, match="3 activations given for a network of 2 layers"):
        call(number, network(), *sample(), activations=("tanh", "tanh", "tanh"))


@pytest.mark.parametrize("number", NUMBERS)
def test_activations_as_a_single_string_is_refused(number):
    with pytest.raises(TypeError, match="one entry per layer"):
        call(number, network(), *sample(), activations="tanh")


@pytest.mark.parametrize("number", NUMBERS)
def test_unknown_activation_lists_valid_names(number):
    with pytest.raises(ValueError, match="layer 2: unknown activation 'swish'") as error:
        call(number, network(), *sample(), activations=("tanh", "swish"))
    for name in manualgrad.ACTIVATIONS:
        assert name in str(error.value)


@pytest.mark.parametrize("number", NUMBERS)
def test_unknown_cost_lists_valid_names(number):
    with pytest.raises(ValueError, match="unknown cost 'l1'") as error:
        call(number, network(), *sample(), cost="l1")
    for name in manualgrad.COSTS:
        assert name in str(error.value)


@pytest.mark.parametrize("number", NUMBERS)
def test_integer_input_is_refused(number):
    with pytest.raises(TypeError, match=r"(x|X) has dtype int32.*floating"):
        call(number, network(), jnp.ones(3, "int32"), jnp.ones(2, DTYPE))


@pytest.mark.parametrize("number", NUMBERS)
def test_integer_weights_are_refused(number):
    theta = network()
    theta = manualgrad.Params((theta.W[0].astype("int32"), theta.W[1]), theta.b)
    with pytest.raises(TypeError, match="W_1 has dtype int32"):
        call(number, theta, *sample())


@pytest.mark.parametrize("number", NUMBERS)
def test_mixed_float_dtypes_are_refused(number):
    with pytest.raises(TypeError, match="float64 but W_1 has float32"):
        call(number, network(), *sample("float64"))


@pytest.mark.parametrize("number", [1, 3, 4])
def test_single_sample_algorithm_refuses_a_batch(number):
    algorithm = manualgrad.ALGORITHMS[number]
    with pytest.raises(ValueError, match=r"one sample .* batch algorithm .* jax\.vmap"):
        algorithm(
            network(), jnp.ones((5, 3), DTYPE), jnp.ones((5, 2), DTYPE), ("tanh", "identity"), "mse"
        )


@pytest.mark.parametrize("number", [2, 5])
def test_batch_algorithm_refuses_a_single_sample(number):
    algorithm = manualgrad.ALGORITHMS[number]
    with pytest.raises(ValueError, match=r"X must be a batch of rows \(N, n_0\)"):
        algorithm(network(), *sample(), ("tanh", "identity"), "mse")


@pytest.mark.parametrize("number", [2, 5])
def test_batch_targets_need_one_row_per_input_row(number):
    algorithm = manualgrad.ALGORITHMS[number]
    with pytest.raises(ValueError, match=r"Y has shape \(4, 2\) .* \(5, 2\)"):
        algorithm(
            network(), jnp.ones((5, 3), DTYPE), jnp.ones((4, 2), DTYPE), ("tanh", "identity"), "mse"
        )


@pytest.mark.parametrize("number", NUMBERS)
def test_unknown_jacobian_mode_is_refused(number):
    with pytest.raises(ValueError, match="jacobian_mode must be one of"):
        call(number, network(), *sample(), jacobian_mode="sparse")


@pytest.mark.parametrize("number", NUMBERS)
def test_dense_mode_over_budget_raises_with_estimate(number):
    with pytest.raises(ValueError, match=r"dense mode would materialize .*bytes.* budget"):
        call(number, network(), *sample(), jacobian_mode="dense", max_dense_bytes=64)


@pytest.mark.parametrize("number", [2, 5])
def test_dense_mode_of_a_large_batch_is_refused_before_allocating(number):
    # 4096 rows x 1024^2 float32 entries per layer is 16 GiB: refused at once.
    theta = manualgrad.init_params(jax.random.PRNGKey(0), (8, 1024, 1024), dtype=DTYPE)
    X, Y = jnp.zeros((4096, 8), DTYPE), jnp.zeros((4096, 1024), DTYPE)
    with pytest.raises(ValueError, match=r"16\.00 GiB.*1\.00 GiB"):
        manualgrad.ALGORITHMS[number](theta, X, Y, ("relu", "relu"), "mse", jacobian_mode="dense")


def test_theta_must_be_a_pair_of_sequences():
    with pytest.raises(TypeError, match="theta must be a Params"):
        manualgrad.backprop_combined(jnp.ones(3), *sample(), ("tanh",), "mse")


def test_theta_needs_a_layer():
    with pytest.raises(ValueError, match="no layers"):
        manualgrad.backprop_combined(manualgrad.Params((), ()), *sample(), (), "mse")


def test_weights_and_biases_must_pair_up():
    theta = network()
    with pytest.raises(ValueError, match="2 weight matrices but 1 bias vectors"):
        manualgrad.backprop_combined(
            manualgrad.Params(theta.W, theta.b[:1]), *sample(), ("tanh", "identity"), "mse"
        )


def test_shape_errors_are_raised_at_trace_time_under_jit():
    @jax.jit
    def step(theta, x, y):
        return manualgrad.backprop_combined(theta, x, y, ("tanh", "identity"), "mse")

    with pytest.raises(ValueError, match="x has width 5"):
        step(network(), jnp.ones(5, DTYPE), jnp.ones(2, DTYPE))


def test_reference_oracles_validate_too():
    with pytest.raises(ValueError, match=r"reference\.grad: .*W_2"):
        theta = manualgrad.Params((network().W[0], jnp.ones((2, 7), DTYPE)), network().b)
        reference.grad(theta, *sample(), ("tanh", "identity"), "mse")
    with pytest.raises(ValueError, match=r"reference\.jacobian: z must have shape"):
        reference.jacobian("tanh", jnp.ones((2, 2)))


def test_init_params_refuses_bad_dims_and_dtypes():
    with pytest.raises(ValueError, match="dims must be"):
        manualgrad.init_params(jax.random.PRNGKey(0), (3,))
    with pytest.raises(ValueError, match="dims must be"):
        manualgrad.init_params(jax.random.PRNGKey(0), (3, 0, 2))
    with pytest.raises(TypeError, match="floating dtype"):
        manualgrad.init_params(jax.random.PRNGKey(0), (3, 2), dtype="int32")
    with pytest.raises(ValueError, match="describe 2 layers but 1 activations"):
        manualgrad.init_params(jax.random.PRNGKey(0), (3, 4, 2), ("relu",))


def test_init_params_sizes_weights_after_pooling():
    theta = manualgrad.init_params(jax.random.PRNGKey(0), (3, 4, 2), ("max_pool", "tanh"))
    assert [w.shape for w in theta.W] == [(4, 3), (2, 1)]
    assert [v.shape for v in theta.b] == [(4,), (2,)]


def test_numpy_theta_is_not_mutated_by_a_failing_call():
    theta = manualgrad.Params([np.ones((4, 3), np.float32)], [np.zeros(4, np.float32)])
    snapshot = [theta.W[0].copy(), theta.b[0].copy()]
    with pytest.raises(ValueError):
        manualgrad.backprop_combined(
            theta, np.ones(3, np.float32), np.ones(5, np.float32), ("tanh",), "mse"
        )
    np.testing.assert_array_equal(theta.W[0], snapshot[0])
    np.testing.assert_array_equal(theta.b[0], snapshot[1])
