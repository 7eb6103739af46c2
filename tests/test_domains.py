"""The facts activations and costs state about themselves hold.

A cost's output domain and an activation's output range decide which output
layers a cost is used with (the case table, verify, the checker); here they
are checked against where the cost is actually finite. An activation's
kinks are checked against where a one-sided difference quotient jumps.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad

#: Pre-activations from -15 to 15 in three coordinates: saturating outputs
#: without rounding sigmoid or softmax to exactly 0 or 1 in float64.
_GRID = jnp.asarray(list(itertools.product(np.linspace(-15.0, 15.0, 7), repeat=3)))


def _finite_everywhere(cost: manualgrad.Cost, activation: manualgrad.Activation) -> bool:
    with jax.enable_x64(True):
        z = _GRID.astype(jnp.float64)
        y_hat = activation(z)
        y = jnp.full(y_hat.shape, 0.5, jnp.float64)
        values = jax.vmap(cost)(y_hat, y)
        return bool(jnp.all(jnp.isfinite(values)))


@pytest.mark.parametrize("cost", list(manualgrad.COSTS))
@pytest.mark.parametrize("activation", list(manualgrad.ACTIVATIONS))
def test_a_cost_accepts_exactly_the_outputs_on_which_it_is_finite(cost, activation):
    cost, activation = manualgrad.get_cost(cost), manualgrad.get_activation(activation)
    assert cost.accepts_output(activation) == _finite_everywhere(cost, activation)


@pytest.mark.parametrize("activation", list(manualgrad.ACTIVATIONS))
def test_outputs_lie_in_the_stated_range(activation):
    activation = manualgrad.get_activation(activation)
    with jax.enable_x64(True):
        a = np.asarray(activation(_GRID.astype(jnp.float64)))
    lo, hi = activation.output_range.low, activation.output_range.high
    assert np.all(a >= lo) and np.all(a <= hi)
    if not activation.output_range.closed_low:
        assert np.all(a > lo)
    if not activation.output_range.closed_high:
        assert np.all(a < hi)


def _derivative_jumps(activation: manualgrad.Pointwise, z: float) -> bool:
    """Whether the one-sided difference quotients at z differ (a jump of phi')."""
    h = 1e-7
    with jax.enable_x64(True):
        phi = lambda t: float(activation(jnp.asarray([t], jnp.float64))[0])  # noqa: E731
        left = (phi(z) - phi(z - h)) / h
        right = (phi(z + h) - phi(z)) / h
    return abs(left - right) > 1e-3


@pytest.mark.parametrize(
    "activation",
    [
        manualgrad.get_activation(name)
        for name, cls in manualgrad.ACTIVATIONS.items()
        if issubclass(cls, manualgrad.Pointwise)
    ]
    + [manualgrad.ELU(alpha=0.5), manualgrad.LeakyReLU(negative_slope=0.2)],
    ids=str,
)
def test_a_pointwise_derivative_jumps_at_its_kinks_and_nowhere_else_on_a_grid(activation):
    jumps = {float(z) for z in np.linspace(-3.0, 3.0, 61) if _derivative_jumps(activation, z)}
    # ELU(alpha=1) is once differentiable at 0: a kink of its curvature only.
    derivative_kinks = (
        {0.0} if isinstance(activation, manualgrad.ELU) and activation.alpha == 1 else set()
    )
    assert jumps == set(activation.kinks) - derivative_kinks
    assert activation.smooth == (not activation.kinks)


def test_near_kink_marks_entries_within_the_radius():
    relu, hard_tanh = manualgrad.ReLU(), manualgrad.HardTanh()
    z = jnp.asarray([-1e-3, 1e-7, 0.5, 1.0 - 1e-8])
    np.testing.assert_array_equal(relu.near_kink(z, 1e-6), [False, True, False, False])
    np.testing.assert_array_equal(hard_tanh.near_kink(z, 1e-6), [False, False, False, True])
    assert not np.any(manualgrad.Tanh().near_kink(z, 1.0))


def test_near_kink_of_max_pool_marks_a_near_tie_for_the_maximum():
    pool = manualgrad.MaxPool()
    near = pool.near_kink(jnp.asarray([[2.0, 2.0 + 1e-7, 0.0], [2.0, 1.0, 0.0]]), 1e-6)
    np.testing.assert_array_equal(near, [[True, True, False], [False, False, False]])
    assert not pool.smooth


def test_intervals_contain_as_sets_do():
    unit = manualgrad.Interval(0.0, 1.0)
    closed = manualgrad.Interval(0.0, 1.0, closed_low=True, closed_high=True)
    assert closed.contains(unit) and not unit.contains(closed)
    assert manualgrad.REALS.contains(closed) and not closed.contains(manualgrad.REALS)
    assert str(closed) == "[0, 1]" and str(unit) == "(0, 1)"


def test_huber_is_near_a_kink_exactly_where_its_residual_is_near_delta():
    huber = manualgrad.Huber(delta=0.5)
    y = jnp.zeros(4)
    y_hat = jnp.asarray([0.5 + 1e-7, -0.5 - 1e-7, 0.2, 3.0])
    np.testing.assert_array_equal(huber.near_kink(y_hat, y, 1e-6), [True, True, False, False])
    # The curvature really jumps there: h'' is 1 inside and 0 outside |r| < delta.
    h2 = jax.vmap(jax.grad(jax.grad(lambda r: huber(jnp.reshape(r, (1,)), jnp.zeros(1)))))
    np.testing.assert_array_equal(h2(jnp.asarray([0.49, 0.51])), [1.0, 0.0])
    for cost in (manualgrad.MeanSquaredError(), manualgrad.CrossEntropy()):
        assert not np.any(cost.near_kink(y_hat, y, 1.0))
