"""Difference quotients that state their error, and find the kinks in their way.

The truth is jax.grad of the reference forward pass: an independent oracle
against which the difference quotients' own error estimates are checked.
Kinks are planted by hand: a network whose pre-activations are set, through
b_1, to chosen values, one of them 1e-9 from a kink and every other far
from all kinks, so which entries are undetermined is known in advance.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import manualgrad
import reference
from reference import finite_differences as fd
from tests._cases import CASES, CASES_BY_NAME, make_inputs

#: Smooth cases, read off the activations' facts, spanning pointwise,
#: softmax, radial, pooling and every cost.
_SMOOTH = tuple(
    case.name
    for case in CASES
    if all(manualgrad.get_activation(a).smooth for a in case.activations)
    and not isinstance(manualgrad.get_cost(case.cost), manualgrad.Huber)
)
BOUND_CASES = (
    "tanh",
    "radial_sigmoid",
    "avg_pool",
    "cross_entropy-softmax",
    "binary_cross_entropy-sigmoid",
)


def _flat(tree) -> np.ndarray:
    return np.asarray(ravel_pytree(tree)[0])


def _net(case):
    return case.activations, case.cost


def _truth(case, theta, X, Y) -> np.ndarray:
    return _flat(reference.grad(theta, X, Y, *_net(case)))


def test_the_bound_cases_are_smooth():
    assert set(BOUND_CASES) <= set(_SMOOTH)


def test_a_call_without_the_new_options_is_central_differences_at_step_1e_6():
    case = CASES_BY_NAME["gelu"]
    theta, X, Y = make_inputs(case, "float64")
    default = reference.numerical_grad(theta, X, Y, case.activations, case.cost)
    explicit = reference.numerical_grad(
        theta, X, Y, case.activations, case.cost, method="central", step=1e-6
    )
    np.testing.assert_array_equal(_flat(default), _flat(explicit))
    assert isinstance(default, manualgrad.Params)
    assert reference.relative_error(default, reference.grad(theta, X, Y, *_net(case))) < 1e-6


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case_name", BOUND_CASES)
def test_richardson_reaches_1e_12_and_its_error_bounds_the_true_error(case_name, seed):
    case = CASES_BY_NAME[case_name]
    theta, X, Y = make_inputs(case, "float64", seed=seed)
    grad, error = reference.numerical_grad(
        theta, X, Y, case.activations, case.cost, method="richardson", return_error=True
    )
    got, bound, truth = _flat(grad), _flat(error), _truth(case, theta, X, Y)
    assert np.all(np.isfinite(bound))
    assert np.all(np.abs(got - truth) <= bound)
    scale = np.max(np.abs(truth))
    assert np.max(np.abs(got - truth)) / scale < 2e-12
    # The bound is informative, not merely safe.
    assert np.max(bound) / scale < 1e-8


@pytest.mark.parametrize("case_name", BOUND_CASES[:2])
def test_central_differences_error_bounds_the_true_error(case_name):
    case = CASES_BY_NAME[case_name]
    theta, X, Y = make_inputs(case, "float64")
    result = reference.numerical_grad(theta, X, Y, *_net(case), return_error=True)
    got, bound, truth = _flat(result.grad), _flat(result.error), _truth(case, theta, X, Y)
    np.testing.assert_array_equal(got, _flat(reference.numerical_grad(theta, X, Y, *_net(case))))
    assert np.all(np.abs(got - truth) <= bound)
    assert np.max(bound) / np.max(np.abs(truth)) < 1e-7
    assert result.oracle == fd.Oracle("central", (1e-6,), 2)


def _planted(activation, targets, *, x=(1.0, -0.5, 0.25), cost="mse"):
    """A (3, 4, 2) network whose one sample has z_1 = targets exactly (up to rounding)."""
    rng = np.random.default_rng(7)
    W1 = rng.normal(size=(4, 3))
    x = np.asarray(x)
    act = manualgrad.get_activation(activation)
    W2 = rng.normal(size=(2, act.output_width(4)))
    b1 = np.asarray(targets) - W1 @ x
    theta = manualgrad.Params(
        (jnp.asarray(W1), jnp.asarray(W2)), (jnp.asarray(b1), jnp.asarray([0.1, -0.2]))
    )
    return theta, jnp.asarray(x), jnp.asarray([0.3, -0.1]), (act, "identity"), cost


#: (activation, z_1 with entry 2 planted 1e-9 from a kink, every other entry
#: at least 0.3 from every kink, method): every kink of every kinked
#: pointwise activation, and both methods.
POINTWISE_KINKS = [
    ("relu", (0.5, -0.6, 1e-9, 0.4), "central"),
    ("relu", (0.5, -0.6, 1e-9, 0.4), "richardson"),
    ("leaky_relu", (0.5, -0.6, -1e-9, 0.4), "central"),
    ("elu", (0.5, -0.6, 1e-9, 0.4), "richardson"),
    ("hard_tanh", (0.5, -0.4, 1 + 1e-9, 0.3), "central"),
    ("hard_tanh", (0.5, -0.4, -1 - 1e-9, 0.3), "central"),
]


def test_every_kink_of_every_pointwise_activation_is_planted():
    planted = {(name, round(targets[2])) for name, targets, _ in POINTWISE_KINKS}
    kinks = {
        (name, kink)
        for name, cls in manualgrad.ACTIVATIONS.items()
        if issubclass(cls, manualgrad.Pointwise)
        for kink in cls.kinks
    }
    assert kinks and kinks == planted
    assert {method for _, _, method in POINTWISE_KINKS} == set(fd.METHODS)


@pytest.mark.parametrize(("activation", "targets", "method"), POINTWISE_KINKS)
def test_a_planted_pointwise_kink_leaves_exactly_its_row_undetermined(activation, targets, method):
    theta, x, y, activations, cost = _planted(activation, targets)
    grad, error = reference.numerical_grad(
        theta, x, y, activations, cost, method=method, return_error=True
    )
    # z_1[2] moves with W_1[2, :] and b_1[2], and with nothing else.
    assert fd.undetermined_entries(error) == ("W_1[2, 0]", "W_1[2, 1]", "W_1[2, 2]", "b_1[2]")
    truth = _flat(reference.grad(theta, x, y, activations, cost))
    got, bound = _flat(grad), _flat(error)
    determined = np.isfinite(bound)
    assert np.all(np.abs(got - truth)[determined] <= bound[determined])
    assert fd.kinks_at(theta, x, activations) == (fd.KinkSite(1, 0, 2, activation),)


@pytest.mark.parametrize(
    ("activation", "targets"),
    [("max_pool", (0.5, 0.5 + 1e-9, -0.3, 0.1)), ("radial_sigmoid", (1e-9, -1e-9, 1e-9, 0.0))],
)
def test_a_planted_tie_or_singular_point_leaves_the_layer_before_it_undetermined(
    activation, targets
):
    # Not pointwise: any movement of the row counts, so every W_1 and b_1 entry.
    theta, x, y, activations, cost = _planted(activation, targets)
    _, error = reference.numerical_grad(theta, x, y, activations, cost, return_error=True)
    assert np.all(np.isinf(_flat(error.W[0]))) and np.all(np.isinf(_flat(error.b[0])))
    assert np.all(np.isfinite(_flat(error.W[1]))) and np.all(np.isfinite(_flat(error.b[1])))
    sites = fd.kinks_at(theta, x, activations)
    assert {(s.layer, s.row) for s in sites} == {(1, 0)}
    if activation == "max_pool":
        assert {s.index for s in sites} == {0, 1}  # the two tied entries


def test_a_huber_residual_at_delta_leaves_the_entries_moving_that_output_undetermined():
    theta, x, y, activations, _ = _planted("tanh", (0.5, -0.6, 0.2, 0.4))
    delta = 0.3
    y_hat = np.asarray(theta.W[1]) @ np.tanh([0.5, -0.6, 0.2, 0.4]) + np.asarray(theta.b[1])
    y = jnp.asarray([y_hat[0] - delta - 1e-9, y_hat[1] - 5.0])  # output 0 at the kink
    _, error = reference.numerical_grad(
        theta, x, y, activations, manualgrad.Huber(delta=delta), return_error=True
    )
    assert np.all(np.isinf(np.asarray(error.W[1][0]))) and np.isinf(error.b[1][0])
    assert np.all(np.isfinite(np.asarray(error.W[1][1]))) and np.isfinite(error.b[1][1])


def test_far_from_kinks_a_kinked_network_is_determined_everywhere():
    theta, x, y, activations, cost = _planted("relu", (0.5, -0.6, 0.3, 0.4))
    _, error = reference.numerical_grad(
        theta, x, y, activations, cost, method="richardson", return_error=True
    )
    assert fd.undetermined_entries(error) == ()
    assert fd.kinks_at(theta, x, activations, step=fd.RICHARDSON_STEP) == ()


def test_a_leaf_alone_equals_that_leaf_of_the_whole_gradient():
    case = CASES_BY_NAME["tanh"]
    theta, X, Y = make_inputs(case, "float64")
    whole = reference.numerical_grad(
        theta, X, Y, *_net(case), method="richardson", return_error=True
    )
    leaf = fd.numerical_leaf(theta, X, Y, *_net(case), "W_2", method="richardson")
    assert leaf.grad.shape == theta.W[1].shape
    # Alike within their error bounds: batched differently, they round differently.
    assert np.all(np.abs(leaf.grad - whole.grad.W[1]) <= leaf.error + whole.error.W[1])
    np.testing.assert_allclose(leaf.error, whole.error.W[1], rtol=0.5)
    assert fd.undetermined_entries(jnp.full((2,), jnp.inf), leaf="b_1") == ("b_1[0]", "b_1[1]")


def test_with_its_error_it_composes_with_jit():
    case = CASES_BY_NAME["tanh"]
    theta, X, Y = make_inputs(case, "float64")

    def both(theta):
        return reference.numerical_grad(theta, X, Y, *_net(case), return_error=True)

    jitted = jax.jit(both)(theta)
    eager = both(theta)
    assert jitted.oracle == eager.oracle
    np.testing.assert_allclose(_flat(jitted.grad), _flat(eager.grad), rtol=0, atol=1e-8)


def test_the_default_richardson_step_comes_from_float64_epsilon():
    eps = np.finfo(np.float64).eps
    assert fd.RICHARDSON_STEP == 2.0 ** math.ceil(math.log2(eps ** (1 / 9))) == 2.0**-5
    oracle = fd.differences_oracle("richardson")
    assert oracle.steps == (2.0**-5, 2.0**-6, 2.0**-7, 2.0**-8) and oracle.order == 8
    assert "2^-5, 2^-6, 2^-7, 2^-8" in str(oracle)
    assert fd.differences_oracle("richardson", 0.1).steps == (0.1, 0.05, 0.025, 0.0125)
    assert fd.AUTODIFF.kind == "autodiff" and "jax.grad" in str(fd.AUTODIFF)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"method": "forward"}, "method must be one of 'central', 'richardson'; got 'forward'"),
        ({"step": 0.0}, "step must be a positive number or None; got 0.0"),
        ({"step": -1e-6}, "step must be a positive number"),
        ({"batch_size": 0}, "batch_size must be a positive integer; got 0"),
    ],
)
def test_a_bad_option_is_named_with_its_valid_values(options, named):
    case = CASES_BY_NAME["tanh"]
    theta, X, Y = make_inputs(case, "float64")
    with pytest.raises(ValueError, match="reference.numerical_grad: " + named.replace("(", r"\(")):
        reference.numerical_grad(theta, X, Y, *_net(case), **options)


def test_an_unknown_leaf_is_named_with_the_valid_ones():
    case = CASES_BY_NAME["tanh"]
    theta, X, Y = make_inputs(case, "float64")
    with pytest.raises(ValueError, match="leaf must be one of W_1, W_2, b_1, b_2; got 'W_3'"):
        fd.numerical_leaf(theta, X, Y, *_net(case), "W_3")
