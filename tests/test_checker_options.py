"""The checker's options against hand-written code in each convention.

Each option is shown with a candidate written in its convention that passes,
and with the natural mistakes of that convention, which must be caught and
named by exactly the rule that describes them (no other rule fires).
"""

from __future__ import annotations

import numpy as np
import pytest

import manualgrad
import reference
from tests.checker.numpy_nets import (
    REG,
    RELU_SIGMOID,
    RELU_SOFTMAX,
    SQUARE,
    TANH3,
    batch_last,
    derivative,
    numpy_backprop,
    per_sample,
    softmax_rows,
    two_layer_net,
)

#: The conventions of two_layer_net: (in, out) weights, labels, a mean, reg * sum(W * W).
TWO_LAYER = dict(targets="labels", reduction="mean", weight_decay=2 * REG, weight_layout="in_out")
BATCH_LAST = dict(batch_layout="columns", reduction="mean")
SIGMOID3 = dict(activations=("sigmoid",) * 3, cost="mse", dims=(3, 4, 4, 2))


def _compare(candidate, network, **options):
    return reference.compare_backprop(candidate, **network, seeds=(0, 1), **options)


# --------------------------------------------------------------------------
# Batch-first, (in, out) weights, integer labels, mean and L2.
# --------------------------------------------------------------------------


def test_a_batch_first_net_with_labels_mean_and_l2_passes_in_its_conventions():
    report = _compare(two_layer_net, RELU_SOFTMAX, **TWO_LAYER)
    assert report.passed, report.message
    assert "Y as integer class indices of shape (N,) (targets='labels')" in report.message


def test_labels_reach_the_candidate_as_the_class_indices_of_the_drawn_rows():
    seen = {}

    def spy(theta, X, y):
        seen.update(y=np.asarray(y), W1=np.asarray(theta.W[0]))
        return two_layer_net(theta, X, y)

    reference.check_backprop(spy, **RELU_SOFTMAX, seeds=(3,), **TWO_LAYER)
    _, _, Y = reference.draw_case(3, **RELU_SOFTMAX)
    theta, _, _ = reference.draw_case(3, **RELU_SOFTMAX)
    assert np.issubdtype(seen["y"].dtype, np.integer) and seen["y"].shape == (8,)
    np.testing.assert_array_equal(seen["y"], np.argmax(np.asarray(Y), axis=1))
    np.testing.assert_array_equal(seen["W1"], np.asarray(theta.W[0]).T)  # (in, out)


@pytest.mark.parametrize(
    ("change", "rule", "says"),
    [
        (dict(weight_decay=REG), "weight_decay", "lam = 0.1, not the declared weight_decay=0.05"),
        (dict(weight_decay=0.0), "weight_decay", "declare weight_decay=0.1"),
        (dict(reduction="sum"), "mean_instead_of_sum", "The loss here is the SUM"),
    ],
    ids=["reg-as-lam", "reg-undeclared", "mean-undeclared"],
)
def test_a_mis_declared_convention_is_named(change, rule, says):
    report = _compare(two_layer_net, RELU_SOFTMAX, **{**TWO_LAYER, **change})
    assert report.rules == (rule,), report.message
    assert says in report.message


def test_in_out_weight_gradients_returned_out_in_are_named_by_their_shapes():
    def transposed_back(theta, X, y):
        return [(W.T, b) for W, b in two_layer_net(theta, X, y)]

    report = _compare(transposed_back, RELU_SOFTMAX, **TWO_LAYER)
    assert report.rules == ("weight_layout",), report.message
    assert "weight_layout='in_out' expects (m_{l-1}, n_l)" in report.message
    assert [r.returned for r in report.seeds[0].leaves if r.kind == "W"] == ["transposed"] * 2


def test_a_forgotten_regularization_gradient_is_the_missing_decay_term():
    def forgets(theta, X, y):
        return two_layer_net(theta, X, y, forget_reg=True)

    report = _compare(forgets, RELU_SOFTMAX, **TWO_LAYER)
    assert report.rules == ("weight_decay",), report.message
    assert "lacks the weight-decay term 0.1 W_l" in report.message


def test_a_mean_candidate_checked_as_mean_but_summing_is_told_of_the_mean():
    def sums(theta, X, y):
        return [(W * len(X), b * len(X)) for W, b in two_layer_net(theta, X, y, reg=0.0)]

    report = _compare(sums, RELU_SOFTMAX, **{**TWO_LAYER, "weight_decay": 0.0})
    assert report.rules == ("mean_instead_of_sum",), report.message
    assert "does not divide by N = 8" in report.message and "MEAN" in report.message


def test_labels_read_off_probability_rows_are_named():
    def argmax_adapter(theta, X, Y):
        return two_layer_net(theta, X, np.argmax(np.asarray(Y), axis=1), reg=0.0)

    report = _compare(argmax_adapter, RELU_SOFTMAX, reduction="mean", weight_layout="in_out")
    assert report.rules == ("labels",), report.message
    assert "pass targets='labels'" in report.message


def test_zero_one_targets_rounded_off_probabilities_are_named():
    def rounds(theta, X, Y):
        return batch_last(theta, X, (np.asarray(Y) >= 0.5).astype(float))

    report = _compare(rounds, RELU_SIGMOID, **BATCH_LAST)
    assert report.rules == ("labels",), report.message
    assert "the 0/1 targets Y >= 1/2" in report.message


def test_weights_stored_in_out_but_declared_out_in_crash_with_a_hint():
    with pytest.raises(ValueError) as info:
        reference.check_backprop(
            two_layer_net, **RELU_SOFTMAX, **{**TWO_LAYER, "weight_layout": "out_in"}
        )
    notes = "\n".join(info.value.__notes__)
    assert "on seed 0" in notes and "theta.W = [(5, 4) float64, (3, 5) float64]" in notes
    assert "weight_layout='out_in'" in notes and "reduction='mean'" in notes
    assert "(Z = X @ W): weight_layout='in_out'" in notes


# --------------------------------------------------------------------------
# Square layers: the weight layout is invisible in the shapes.
# --------------------------------------------------------------------------

SQUARE_TANH = dict(activations=("tanh", "tanh"), cost="mse", dims=(4, 4, 4))


def _in_out_backprop(theta, X, Y):
    """tanh -> tanh, mse, written for W stored (in, out): Z = A @ W + b."""
    (W1, W2), (b1, b2) = [[np.asarray(v) for v in part] for part in theta]
    X, Y = np.asarray(X), np.asarray(Y)
    A1 = np.tanh(X @ W1 + b1)
    A2 = np.tanh(A1 @ W2 + b2)
    G2 = (A2 - Y) * (1 - A2**2)
    G1 = (G2 @ W2.T) * (1 - A1**2)
    return [(X.T @ G1, G1.sum(axis=0)), (A1.T @ G2, G2.sum(axis=0))]


def test_square_weights_read_in_the_other_layout_are_named():
    assert _compare(_in_out_backprop, SQUARE_TANH, weight_layout="in_out").passed
    report = _compare(_in_out_backprop, SQUARE_TANH)  # declared out_in
    assert report.rules == ("weight_layout",), report.message
    assert "pass weight_layout='in_out'" in report.message


def test_square_weight_gradients_returned_in_the_other_layout_are_named():
    def returns_in_out(theta, X, Y):
        return [(W.T, b) for W, b in numpy_backprop(("tanh", "tanh"), "mse")(theta, X, Y)]

    report = _compare(returns_in_out, SQUARE_TANH)
    assert report.rules == ("weight_layout",), report.message
    assert "every W_l came back transposed, in the other layout" in report.message


# --------------------------------------------------------------------------
# Batch-last code: X (n_0, N), (n_l, 1) biases, the mean over 1/m.
# --------------------------------------------------------------------------


def test_batch_last_code_passes_in_columns_and_says_how_its_biases_came_back():
    report = _compare(batch_last, RELU_SIGMOID, **BATCH_LAST)
    assert report.passed, report.message
    assert "The biases came back as (n_l, 1)" in report.message
    assert [r.shape for r in report.seeds[0].leaves] == [(6, 3), (6, 1), (2, 6), (2, 1)]


def test_batch_last_labels_are_zero_one_targets_for_binary_cross_entropy():
    seen = {}

    def spy(theta, X, Y):
        seen["Y"] = np.asarray(Y)
        return batch_last(theta, X, Y)

    assert _compare(spy, RELU_SIGMOID, **BATCH_LAST, targets="labels").passed
    _, _, Y = reference.draw_case(1, **RELU_SIGMOID)
    np.testing.assert_array_equal(seen["Y"], (np.asarray(Y) >= 0.5).T)  # (m_L, N)


def test_a_bias_summed_over_the_wrong_axis_gets_a_hint_in_either_layout():
    def wrong_axis(theta, X, Y):
        return batch_last(theta, X, Y, bias_axis=0)

    report = _compare(wrong_axis, RELU_SIGMOID, **BATCH_LAST)
    assert report.problem.startswith("b_2 has shape (8,), expected (2,) — one entry per sample")
    assert "axis 1 of grad_Z_l (n_l, N) in batch_layout='columns'" in report.problem

    def rows_wrong_axis(theta, X, Y):
        pairs = numpy_backprop(TANH3, "mse")(theta, X, Y)
        return [(W, np.full(len(X), b.sum())) for W, b in pairs]

    report = _compare(rows_wrong_axis, dict(activations=TANH3, cost="mse", dims=SQUARE))
    assert "axis 0 of grad_Z_l (N, n_l) in batch_layout='rows'" in report.problem


def test_batch_last_code_declared_rows_crashes_with_the_layout_in_its_note():
    with pytest.raises(ValueError) as info:
        reference.check_backprop(batch_last, **RELU_SIGMOID, reduction="mean")
    assert "X as (n_0, N): batch_layout='columns'" in "\n".join(info.value.__notes__)


# --------------------------------------------------------------------------
# One sample at a time, column vectors, (nabla_b, nabla_w).
# --------------------------------------------------------------------------


def test_per_sample_column_code_passes_and_its_raw_return_is_a_swapped_pair():
    assert _compare(per_sample, SIGMOID3, batch_layout="columns").passed
    report = _compare(
        lambda theta, X, Y: per_sample(theta, X, Y, raw=True), SIGMOID3, batch_layout="columns"
    )
    assert report.rules == ("swapped_pair",), report.message
    assert "(nabla_b, nabla_w) must swap them" in report.message
    assert all(r.returned == "swapped" and r.error < 1e-14 for r in report.seeds[0].leaves)


def test_a_pair_returned_bias_first_is_a_swapped_pair():
    def bias_first(theta, X, Y):
        return [(b, W) for W, b in numpy_backprop(TANH3, "mse")(theta, X, Y)]

    report = _compare(bias_first, dict(activations=TANH3, cost="mse", dims=SQUARE))
    assert report.rules == ("swapped_pair",), report.message


def _tanh_prime_of_output(name, Z, l):
    return derivative(name, np.tanh(Z[l]))


SIGMA_PRIME = {
    "at every layer": (
        lambda theta, X, Y: per_sample(theta, X, Y, derivative_at_output=True),
        SIGMOID3,
        dict(batch_layout="columns"),
    ),
    "at the output layer L = 3": (
        numpy_backprop(
            TANH3,
            "mse",
            plant={"output_grad_z": lambda n, c, z, a, Y: derivative(n, a) * (a - np.asarray(Y))},
        ),
        dict(activations=TANH3, cost="mse", dims=SQUARE),
        {},
    ),
    "at layer 2": (
        numpy_backprop(
            TANH3,
            "mse",
            plant={
                "jacobian": lambda n, Z, l: (
                    _tanh_prime_of_output(n, Z, l) if l == 2 else derivative(n, Z[l])
                )
            },
        ),
        dict(activations=TANH3, cost="mse", dims=SQUARE),
        {},
    ),
}


@pytest.mark.parametrize("where", list(SIGMA_PRIME))
def test_the_derivative_taken_at_the_output_is_named_with_where(where):
    candidate, network, options = SIGMA_PRIME[where]
    report = _compare(candidate, network, **options)
    assert report.rules == ("sigma_prime_of_output",), report.message
    assert f"phi'(a_l) where phi'(z_l) belongs, {where}:" in report.message


# --------------------------------------------------------------------------
# The user's own batch (data=).
# --------------------------------------------------------------------------

_RNG = np.random.default_rng(7)
OWN_X = _RNG.normal(size=(20, 4))
OWN_LABELS = _RNG.integers(0, 3, size=20)


def test_the_users_own_batch_is_used_and_batch_size_ignored():
    seen = []

    def spy(theta, X, y):
        seen.append((np.asarray(X), np.asarray(y)))
        return two_layer_net(theta, X, y)

    report = _compare(spy, RELU_SOFTMAX, **TWO_LAYER, data=(OWN_X, OWN_LABELS), batch_size=3)
    assert report.passed, report.message
    assert "your batch (data=) of N = 20 samples" in report.message
    for X, y in seen:
        np.testing.assert_array_equal(X, OWN_X)
        np.testing.assert_array_equal(y, OWN_LABELS)


def test_own_batch_in_columns_is_given_in_the_same_layout():
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(3, 10)), (rng.uniform(size=(2, 10)) > 0.5).astype(float)
    report = _compare(batch_last, RELU_SIGMOID, **BATCH_LAST, targets="labels", data=(X, Y))
    assert report.passed, report.message


def test_a_dead_relu_layer_is_measured_against_the_gradient_scale():
    # A one-unit relu layer that no row of X activates: grad W_1 and b_1 are zero.
    network = dict(activations=("relu", "identity"), cost="mse", dims=(3, 1, 2))
    theta, _, _ = reference.draw_case(0, **network)
    w1, b1 = np.asarray(theta.W[0])[0], float(np.asarray(theta.b[0])[0])
    X = -np.outer(1 + np.arange(6), w1) * (1 + abs(b1)) / (w1 @ w1)  # X @ w1 + b1 < 0
    Y = np.ones((6, 2))

    def alive(theta, X, Y):  # backprop as if the relu passed everything through
        return numpy_backprop(("identity", "identity"), "mse")(theta, X, Y)

    report = reference.compare_backprop(alive, **network, seeds=(0,), data=(X, Y))
    (w1_report,) = [r for r in report.seeds[0].leaves if r.name == "W_1"]
    assert w1_report.zero and not w1_report.ok
    assert 1e-3 < w1_report.error < 1e3  # a fraction of the gradient's scale, not of 1e-6
    assert "(expected all zero: error relative to the gradient's scale)" in report.message


def test_a_one_entry_leaf_names_no_factor():
    network = dict(activations=("tanh", "sigmoid"), cost="binary_cross_entropy", dims=(3, 4, 1))

    def output_bias_off(theta, X, Y):
        g = manualgrad.backprop_batch(theta, X, Y, network["activations"], network["cost"])
        return manualgrad.Params(g.W, (g.b[0], -2.5 * g.b[1]))

    report = reference.compare_backprop(output_bias_off, **network, seeds=(0,))
    (b2,) = [r for r in report.seeds[0].leaves if r.name == "b_2"]
    assert not b2.ok and not b2.shows_factor
    assert "x expected" not in report.message


# --------------------------------------------------------------------------
# The candidate's own loss (loss=).
# --------------------------------------------------------------------------


def _net_output(theta, X):
    (W1, W2), (b1, b2) = [[np.asarray(v) for v in part] for part in theta]
    return softmax_rows(np.maximum(np.asarray(X) @ W1.T + b1, 0) @ W2.T + b2, axis=1)


def cross_entropy_loss(theta, X, Y):
    return -np.sum(np.asarray(Y) * np.log(_net_output(theta, X)))


def binary_cross_entropy_loss(theta, X, Y):
    """What real code called "cross-entropy": the binary one, on softmax outputs."""
    S, Y = _net_output(theta, X), np.asarray(Y)
    return -np.sum(Y * np.log(S) + (1 - Y) * np.log(1 - S))


RELU_SOFTMAX_GRAD = numpy_backprop(("relu", "softmax"), "cross_entropy")


def test_an_own_loss_that_is_the_declared_one_passes():
    report = reference.compare_backprop(
        RELU_SOFTMAX_GRAD, **RELU_SOFTMAX, seeds=(0,), loss=cross_entropy_loss
    )
    assert report.passed, report.message
    loss = report.seeds[0].loss
    assert loss.value_ok and loss.gradient_error < 1e-6


def test_two_mistakes_that_cancel_are_both_reported():
    report = reference.compare_backprop(
        RELU_SOFTMAX_GRAD, **RELU_SOFTMAX, seeds=(0,), loss=binary_cross_entropy_loss
    )
    assert not report.passed and report.wrong_leaves == ()
    assert report.rules == ("loss_value", "loss_gradient"), report.message
    assert "its value is that of cost='binary_cross_entropy'" in report.message
    assert "Two mistakes cancel" in report.message
    loss = report.seeds[0].loss
    assert loss.got == pytest.approx(binary_cross_entropy_loss(*_declared_case(0)), rel=1e-12)


def _declared_case(seed):
    theta, X, Y = reference.draw_case(seed, **RELU_SOFTMAX)
    return theta, X, Y


def test_a_gradient_wrong_for_its_own_right_loss_is_wrong_both_ways():
    wrong = numpy_backprop(
        ("relu", "softmax"), "cross_entropy", plant={"grad_b": lambda G: 0 * G[0]}
    )
    report = reference.compare_backprop(wrong, **RELU_SOFTMAX, seeds=(0,), loss=cross_entropy_loss)
    assert set(report.rules) == {"bias_only", "loss_gradient"}, report.message
    assert "not the gradient of its own loss (loss=) either" in report.message


# --------------------------------------------------------------------------
# State kept between calls.
# --------------------------------------------------------------------------


class _Accumulating:
    """A layer-object framework that adds each call's gradients to its buffers."""

    def __init__(self):
        self.grads = None

    def __call__(self, theta, X, Y):
        new = numpy_backprop(TANH3, "mse")(theta, X, Y)
        if self.grads is None:
            self.grads = [[np.zeros_like(W), np.zeros_like(b)] for W, b in new]
        for buffer, (W, b) in zip(self.grads, new, strict=True):
            buffer[0] += W
            buffer[1] += b
        return [(W.copy(), b.copy()) for W, b in self.grads]


def test_gradients_accumulated_across_calls_are_named_stateful():
    report = reference.compare_backprop(
        _Accumulating(), activations=TANH3, cost="mse", dims=SQUARE, seeds=(0, 1, 2)
    )
    assert [s.passed for s in report.seeds] == [True, False, False]
    assert report.rules == ("stateful",), report.message


def test_a_candidate_that_answers_from_a_cache_is_named_stateful():
    good, cache = numpy_backprop(TANH3, "mse"), []

    def cached(theta, X, Y):
        if not cache:
            cache.append(good(theta, X, Y))
        return cache[0]

    report = reference.compare_backprop(
        cached, activations=TANH3, cost="mse", dims=SQUARE, seeds=(0, 1)
    )
    assert report.rules == ("stateful",), report.message


def test_a_deterministic_candidate_wrong_on_one_seed_is_not_stateful():
    good = numpy_backprop(TANH3, "mse")

    def wrong_when_x_is_large(theta, X, Y):
        pairs = good(theta, X, Y)
        return pairs if np.asarray(X)[0, 0] < 0 else [(2 * W, b) for W, b in pairs]

    report = reference.compare_backprop(
        wrong_when_x_is_large, activations=TANH3, cost="mse", dims=SQUARE, seeds=(0, 1, 2)
    )
    assert not report.passed and "stateful" not in report.rules


# --------------------------------------------------------------------------
# Bad arguments.
# --------------------------------------------------------------------------

BAD = [
    (dict(targets="onehot"), "targets must be one of 'probabilities', 'labels', got 'onehot'"),
    (dict(reduction="avg"), "reduction must be one of 'sum', 'mean', got 'avg'"),
    (dict(weight_layout="io"), "weight_layout must be one of 'out_in', 'in_out', got 'io'"),
    (dict(batch_layout="cols"), "batch_layout must be one of 'rows', 'columns', got 'cols'"),
    (dict(weight_decay=-0.1), "weight_decay must be a finite number >= 0"),
    (dict(weight_decay=float("nan")), "weight_decay must be a finite number >= 0"),
    (dict(loss="mse"), "loss must be a function loss(theta, X, Y)"),
    (dict(data=OWN_X), "data must be a pair (X, Y)"),
    (
        dict(data=(OWN_X.T, OWN_LABELS), targets="labels"),
        "data: X has shape (4, 20), but batch_layout='rows' needs (N, n_0) = (N, 4)",
    ),
    (
        dict(data=(OWN_X, OWN_LABELS), batch_layout="columns"),
        "data: X has shape (20, 4), but batch_layout='columns' needs (n_0, N) = (4, N)",
    ),
    (
        dict(data=(OWN_X, OWN_LABELS + 1), targets="labels"),
        "is out of range: the 3 classes are 0..2",
    ),
    (
        dict(data=(OWN_X, OWN_LABELS)),
        "data: Y has shape (20,), but batch_layout='rows' needs (N, m_L) = (N, 3)",
    ),
    (
        dict(data=(OWN_X, np.ones((20, 3))), targets="labels"),
        "targets='labels' with cross_entropy needs class indices of shape (N,) = (20,)",
    ),
    (dict(data=(OWN_X, OWN_LABELS + 0.5), targets="labels"), "has non-integer entries"),
]


@pytest.mark.parametrize(("options", "says"), BAD, ids=[b[1][:30] for b in BAD])
def test_bad_options_are_value_errors_naming_the_option(options, says):
    with pytest.raises(ValueError) as info:
        reference.check_backprop(two_layer_net, **RELU_SOFTMAX, **options)
    assert says in str(info.value)


def test_labels_mean_nothing_for_mse():
    with pytest.raises(ValueError, match="targets='labels' means nothing for cost mse"):
        reference.check_backprop(
            two_layer_net, activations=TANH3, cost="mse", dims=SQUARE, targets="labels"
        )


def test_binary_labels_must_be_zero_or_one():
    X, Y = np.zeros((5, 3)), np.full((5, 2), 0.5)
    with pytest.raises(ValueError, match="needs 0/1 entries in Y"):
        reference.check_backprop(batch_last, **RELU_SIGMOID, targets="labels", data=(X, Y))
