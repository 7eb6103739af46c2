"""reference.compare_backprop's report, the reproduction code, and crashes of the candidate."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

import reference
from tests.checker.numpy_nets import (
    RELU_SIGMOID,
    RELU_SOFTMAX,
    SQUARE,
    TANH3,
    batch_last,
    numpy_backprop,
    scaled,
    two_layer_net,
)

TANH_NETWORK = dict(activations=TANH3, cost="mse", dims=SQUARE)
GOOD = numpy_backprop(TANH3, "mse")


def test_a_passing_report_holds_every_seed_and_leaf_and_goes_to_json():
    report = reference.compare_backprop(GOOD, **TANH_NETWORK, seeds=(4, 5))
    assert report.passed and report.tolerance == 1e-10 and report.dtype == "float64"
    assert [s.seed for s in report.seeds] == [4, 5] and all(s.passed for s in report.seeds)
    leaves = report.seeds[0].leaves
    assert [r.name for r in leaves] == ["W_1", "b_1", "W_2", "b_2", "W_3", "b_3"]
    assert [r.shape for r in leaves][:2] == [(4, 3), (4,)]
    assert all(r.relative_error <= 1e-10 for s in report.seeds for r in s.leaves)
    assert report.wrong_leaves == () and report.entry_layer is None and report.diagnosis == ()
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["passed"] is True and data["options"]["reduction"] == "sum"
    assert data["seeds"][1]["leaves"][0]["name"] == "W_1"
    assert data["options"]["seeds"] == [4, 5]


def test_a_failing_report_names_the_leaves_the_entry_layer_and_each_finding():
    report = reference.compare_backprop(scaled(GOOD, 2.0), **TANH_NETWORK, seeds=(0,))
    assert not report.passed and report.failing_seeds == (0,)
    assert report.wrong_leaves == ("W_1", "b_1", "W_2", "b_2", "W_3", "b_3")
    assert report.entry_layer == 3
    assert report.rules == ("mse_half_convention",)
    worst = report.seeds[0].leaves[0]
    assert worst.got == pytest.approx(2 * worst.expected, rel=1e-12)
    with pytest.raises(AssertionError) as info:
        reference.check_backprop(scaled(GOOD, 2.0), **TANH_NETWORK, seeds=(0,))
    assert str(info.value) == report.message
    for _, text in report.diagnosis:
        assert text in report.message
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["diagnosis"][0]["rule"] == "mse_half_convention"
    assert data["seeds"][0]["leaves"][0]["factor"] == 2.0


def test_a_malformed_result_is_a_report_with_its_problem():
    def too_few(theta, X, Y):
        return GOOD(theta, X, Y)[:2]

    report = reference.compare_backprop(too_few, **TANH_NETWORK, seeds=(0, 1))
    assert not report.passed and report.problem == "candidate returned 2 layers, network has 3"
    assert report.message.startswith("check_backprop: candidate returned 2 layers")
    assert [(s.seed, s.leaves) for s in report.seeds] == [(0, ())]


def test_a_float32_report_has_the_float32_tolerance():
    report = reference.compare_backprop(GOOD, **TANH_NETWORK, seeds=(0,), dtype="float32")
    assert report.passed and report.tolerance == 1e-5 and report.dtype == "float32"


# --------------------------------------------------------------------------
# The reproduction code rebuilds what the check compared.
# --------------------------------------------------------------------------

_OWN = np.random.default_rng(3)
OWN_X, OWN_Y = _OWN.normal(size=(3, 10)), (_OWN.uniform(size=(2, 10)) > 0.5).astype(float)

REPRODUCED = {
    "default": (scaled(GOOD, 2.0), TANH_NETWORK, {}),
    "labels, mean, decay, in_out": (
        lambda theta, X, y: two_layer_net(theta, X, y, forget_reg=True),
        RELU_SOFTMAX,
        dict(targets="labels", reduction="mean", weight_decay=0.1, weight_layout="in_out"),
    ),
    "columns, own data": (
        lambda theta, X, Y: [(2 * W, b) for W, b in batch_last(theta, X, Y)],
        RELU_SIGMOID,
        dict(batch_layout="columns", reduction="mean", targets="labels", data=(OWN_X, OWN_Y)),
    ),
}


@pytest.mark.parametrize("name", list(REPRODUCED))
def test_the_reproduction_code_rebuilds_the_compared_numbers(name):
    candidate, network, options = REPRODUCED[name]
    report = reference.compare_backprop(candidate, **network, seeds=(2,), **options)
    assert not report.passed
    namespace = {"candidate": candidate, "data": options.get("data")}
    with jax.enable_x64(True):
        exec(report.reproduction, namespace)
    expected, got = namespace["expected"], namespace["got"]
    got_W = [np.asarray(W) for W, _ in got]
    if options.get("weight_layout") == "in_out":
        got_W = [W.T for W in got_W]
    for r in report.seeds[0].leaves:
        l = r.layer - 1
        e = expected.W[l] if r.kind == "W" else expected.b[l]
        g = got_W[l] if r.kind == "W" else np.asarray(got[l][1]).reshape(-1)
        assert float(np.asarray(e)[r.worst_index]) == pytest.approx(r.expected, rel=1e-12)
        assert float(g[r.worst_index]) == pytest.approx(r.got, rel=1e-12)


# --------------------------------------------------------------------------
# A crash inside the candidate is a crash, with what it was given.
# --------------------------------------------------------------------------


def _asserts(theta, X, Y):
    assert X.shape[1] == 99, "the library's own check"


def test_an_assertion_inside_the_candidate_is_a_candidate_error_not_a_verdict():
    with pytest.raises(reference.CandidateError) as info:
        reference.check_backprop(_asserts, **TANH_NETWORK, seeds=(3,))
    assert not isinstance(info.value, AssertionError)
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value.__cause__, AssertionError)
    text = str(info.value)
    assert "the library's own check" in text and "on seed 3" in text
    assert "X (8, 3) float64, Y (8, 4) float64" in text


def test_an_assertion_inside_the_loss_is_a_candidate_error_too():
    def loss(theta, X, Y):
        raise AssertionError("loss check")

    with pytest.raises(reference.CandidateError, match="raised by loss"):
        reference.check_backprop(GOOD, **TANH_NETWORK, seeds=(0,), loss=loss)


def test_an_exception_inside_the_candidate_carries_a_note_with_every_option():
    def crashes(theta, X, Y):
        return np.dot(np.asarray(X), np.asarray(theta.W[1]))

    with pytest.raises(ValueError, match="not aligned") as info:
        reference.check_backprop(crashes, **TANH_NETWORK, seeds=(1,), dtype="float32")
    (note,) = info.value.__notes__
    assert "raised by candidate(theta, X, Y) on seed 1" in note
    assert "theta.W = [(4, 3) float32, (4, 4) float32, (4, 4) float32]" in note
    for option in (
        "activations=('tanh', 'tanh', 'tanh')",
        "dims=(3, 4, 4, 4)",
        "batch_size=8",
        "seeds=(1,)",
        "dtype='float32'",
        "targets='probabilities'",
        "reduction='sum'",
        "weight_decay=0.0",
        "weight_layout='out_in'",
        "batch_layout='rows'",
        "data=None",
        "loss=None",
    ):
        assert option in note, option
