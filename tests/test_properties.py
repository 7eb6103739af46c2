"""Random architectures drawn by hypothesis: every algorithm equals jax.grad."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from hypothesis import given
from hypothesis import strategies as st

import manualgrad
import reference
from tests._cases import COST_OUTPUTS, assert_grads_close
from tests._custom import CUSTOM_ACTIVATIONS

HIDDEN = [*sorted(manualgrad.ACTIVATIONS), *CUSTOM_ACTIVATIONS]
#: Output activations per cost: the table's, and every custom one for mse.
OUTPUTS = {**COST_OUTPUTS, "mse": (*COST_OUTPUTS["mse"], *CUSTOM_ACTIVATIONS)}
LABEL_COSTS = ("cross_entropy", "binary_cross_entropy")


@st.composite
def networks(draw):
    depth = draw(st.integers(1, 4))
    widths = draw(st.lists(st.integers(1, 6), min_size=depth + 1, max_size=depth + 1))
    cost = draw(st.sampled_from(sorted(COST_OUTPUTS)))
    hidden = draw(st.lists(st.sampled_from(HIDDEN), min_size=depth - 1, max_size=depth - 1))
    output = draw(st.sampled_from(OUTPUTS[cost]))
    if output == "softmax" and cost == "binary_cross_entropy":
        # A softmax of width 1 is the constant 1, where log(1 - y_hat) is -inf:
        # the loss itself is undefined, for jax.grad as for the algorithms.
        widths[-1] = max(widths[-1], 2)
    for l, activation in enumerate((*hidden, output), start=1):
        # A layer norm of width 2 and an RMS norm of width 1 are ill-conditioned:
        # their Jacobian is eps / (m2 + eps) times its scale, a difference of
        # numbers 1e5 times larger, which no two roundings agree on to 1e-10
        # (tests/test_normalization.py measures it against the conditioning).
        if (activation, widths[l]) in (("layer_norm", 2), ("rms_norm", 1)):
            widths[l] += 1
    number = draw(st.sampled_from(sorted(manualgrad.ALGORITHMS)))
    mode = draw(st.sampled_from(manualgrad.JACOBIAN_MODES))
    seed = draw(st.integers(0, 2**16))
    rows = draw(st.integers(1, 4))
    labels = cost in LABEL_COSTS and draw(st.booleans())
    return tuple(widths), (*hidden, output), cost, number, mode, seed, rows, labels


@given(networks())
def test_random_architecture_matches_jax_grad(network):
    dims, activations, cost, number, mode, seed, rows, labels = network
    dtype = "float64"
    theta, X, Y = reference.draw_case(
        seed,
        activations=activations,
        cost=cost,
        dims=dims,
        batch_size=rows,
        dtype=dtype,
        targets="labels" if labels else "probabilities",
    )
    algorithm = manualgrad.ALGORITHMS[number]
    if not algorithm.batch:
        X, Y = X[0], Y[0]
    got = algorithm(theta, X, Y, activations, cost, jacobian_mode=mode)
    expected = reference.grad(theta, X, Y, activations, cost)
    assert_grads_close(got, expected, dtype)
    assert all(jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(got))
