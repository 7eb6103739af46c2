"""check_backprop(mode=...): every entry against autodiff, or each leaf along random directions.

The large network has 26,122 parameters, above the count where mode="auto"
turns directional, tanh hidden layers (no kinks) and leaves on both sides of
the size up to which a failing leaf is compared entry by entry. The truth
the tests hold the checker to is jax.grad (``reference.grad``), which the
directional mode does not consult: its oracle is difference quotients.
"""

from __future__ import annotations

import functools
import json
import textwrap

import numpy as np
import pytest

import manualgrad
import reference
from reference import directional
from reference.checker import cli
from tests.checker.numpy_nets import RELU_SOFTMAX, numpy_backprop

BIG = dict(activations=("tanh", "tanh", "softmax"), cost="cross_entropy", dims=(64, 128, 128, 10))
BIG_PARAMETERS = 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10
LEAVES = ("W_1", "b_1", "W_2", "b_2", "W_3", "b_3")
LAM = 0.1

correct = numpy_backprop(BIG["activations"], BIG["cost"])
#: Each bias gradient averages grad_Z_l over the rows where eq. 4.4 sums them.
bias_mean = numpy_backprop(BIG["activations"], BIG["cost"], plant={"grad_b": lambda G: G.mean(0)})
#: grad_W_2 transposed: W_2 is square, so its shape hides it.
W2_transposed = numpy_backprop(
    BIG["activations"],
    BIG["cost"],
    plant={"grad_W": lambda G, l, Z, A: (G.T @ A[l - 1]).T if l == 2 else G.T @ A[l - 1]},
)


def _conventions(*, decay: float):
    """``correct`` as code in other conventions writes it: W_l stored (in, out), integer
    labels, the mean over the rows, plus ``decay`` W_l from (LAM / 2) sum ||W_l||^2."""

    def grads(theta_in_out, X, labels):
        W = tuple(np.asarray(w).T for w in theta_in_out.W)
        Y = np.eye(BIG["dims"][-1])[np.asarray(labels)]
        pairs = correct(manualgrad.Params(W, theta_in_out.b), X, Y)
        N = len(X)
        return [((gW / N + decay * w).T, gb / N) for (gW, gb), w in zip(pairs, W, strict=True)]

    return grads


CONVENTIONS = dict(targets="labels", weight_layout="in_out", reduction="mean", weight_decay=LAM)


@functools.cache
def _report(name: str, mode: str = "directional") -> reference.BackpropReport:
    candidates = {
        "correct": correct,
        "bias_mean": bias_mean,
        "W2_transposed": W2_transposed,
        "conventions": _conventions(decay=LAM),
        "no_decay": _conventions(decay=0.0),
    }
    options = CONVENTIONS if name in ("conventions", "no_decay") else {}
    return reference.compare_backprop(candidates[name], **BIG, seeds=(0,), mode=mode, **options)


@functools.cache
def _truth(reduction: str = "sum", decay: float = 0.0, labels: bool = False) -> list[np.ndarray]:
    """jax.grad on seed 0's problem, in the candidate's loss: W_1..W_3, b_1..b_3.

    With ``labels`` the targets are the one-hot rows of the drawn rows' argmax.
    """
    theta, X, Y = reference.draw_case(0, **BIG, batch_size=8, dtype="float64")
    if labels:
        Y = np.eye(BIG["dims"][-1])[np.argmax(np.asarray(Y), axis=1)]
    g = reference.grad(theta, X, Y, BIG["activations"], BIG["cost"])
    N = 8 if reduction == "mean" else 1
    W = [np.asarray(w) / N + decay * np.asarray(w0) for w, w0 in zip(g.W, theta.W, strict=True)]
    return W + [np.asarray(b) / N for b in g.b]


def _leaf(report: reference.BackpropReport, name: str):
    return next(r for r in report.seeds[0].leaves if r.name == name)


def _assert_within_the_oracles_own_error(report: reference.BackpropReport) -> None:
    """A right float64 gradient is off from the quotients by no more than their own bound."""
    oracle = report.seeds[0].oracle
    for leaf in report.seeds[0].leaves:
        assert leaf.ok and leaf.error <= oracle.errors[leaf.name] < report.tolerance, leaf.name


def _assert_worst_element(leaf, got: np.ndarray, truth: np.ndarray) -> None:
    """The reported element is the worst one, and its values are jax.grad's and the candidate's."""
    assert leaf.index, f"{leaf.name} has no worst element"
    worst = np.max(np.abs(got - truth))
    tolerance = reference.FINITE_DIFFERENCE_TOLERANCE
    assert abs(got[leaf.index] - truth[leaf.index]) >= worst * (1 - tolerance)
    assert abs(leaf.expected - truth[leaf.index]) <= tolerance * np.max(np.abs(truth))
    assert leaf.got == got[leaf.index]


# --------------------------------------------------------------------------
# The mode: auto picks by the parameter count; a bad value is named.
# --------------------------------------------------------------------------


def test_auto_checks_a_large_network_directionally_and_a_right_gradient_passes():
    report = _report("correct", "auto")
    assert report.passed, report.message
    assert report.mode == "directional" and report.options["mode"] == "auto"
    assert report.tolerance == reference.FINITE_DIFFERENCE_TOLERANCE
    oracle = report.seeds[0].oracle
    assert oracle.kind == "directional" and oracle.oracle.steps == directional.DIRECTIONAL_STEPS
    assert set(oracle.errors) == set(LEAVES) and oracle.not_compared == {}
    assert all(oracle.steps[name] for name in LEAVES)
    _assert_within_the_oracles_own_error(report)
    first = report.message.splitlines()[0]
    assert first.startswith("check_backprop: the candidate's gradient agrees in 1 of 1 seeds")
    assert "checked directionally, tolerance 1e-06 relative" in first
    assert (
        "Oracle: directional differences along random unit directions" in report.message
        and f"mode='auto': {BIG_PARAMETERS:,} parameters, above AUTO_DIRECTIONAL_ABOVE = "
        f"{directional.AUTO_DIRECTIONAL_ABOVE:,}"
        in report.message
    )


def test_a_float32_gradient_is_held_to_the_float32_tolerance():
    report = reference.compare_backprop(correct, **BIG, seeds=(1,), dtype="float32", mode="auto")
    assert report.passed, report.message
    assert report.tolerance == reference.tolerance("float32")


def test_auto_compares_every_entry_with_autodiff_at_or_below_the_threshold():
    report = reference.compare_backprop(
        numpy_backprop(("relu", "softmax"), "cross_entropy"),
        **RELU_SOFTMAX,
        seeds=(0,),
        mode="auto",
    )
    assert report.passed and report.mode == "full"
    oracle = report.seeds[0].oracle
    assert oracle.kind == "autodiff" and oracle.oracle == reference.Oracle("autodiff")
    assert oracle.errors == dict.fromkeys(("W_1", "W_2", "b_1", "b_2")) and oracle.directions == 0
    assert (
        "Oracle: autodiff (jax.grad of the reference forward pass, float64); mode='auto': "
        "43 parameters, at most AUTO_DIRECTIONAL_ABOVE = 20,000." in report.message
    )
    # Exactly at the threshold: 100 x 199 weights and 100 biases.
    at = dict(activations=("identity",), cost="mse", dims=(199, 100))
    report = reference.compare_backprop(
        numpy_backprop(at["activations"], at["cost"]), **at, seeds=(0,), mode="auto"
    )
    assert report.passed and report.mode == "full"
    assert "mode='auto': 20,000 parameters, at most" in report.message


def test_the_default_is_full_and_says_so():
    report = reference.compare_backprop(
        numpy_backprop(("relu", "softmax"), "cross_entropy", plant={"grad_b": lambda G: G.mean(0)}),
        **RELU_SOFTMAX,
        seeds=(0,),
    )
    assert not report.passed and report.mode == "full" and report.options["mode"] == "full"
    assert report.seeds[0].oracle.kind == "autodiff"
    assert "\nOracle: autodiff (jax.grad of the reference forward pass, float64).\n" in (
        report.message
    )
    assert report.rules == ("bias_only",)


def _never(theta, X, Y):
    raise AssertionError("the candidate is not called when the arguments are bad")


@pytest.mark.parametrize("mode", ["fast", "Full", None, 1])
def test_a_bad_mode_is_a_value_error_naming_the_valid_ones(mode):
    says = f"check_backprop: mode must be one of 'full', 'directional', 'auto'; got {mode!r}"
    for check in (reference.check_backprop, reference.compare_backprop):
        with pytest.raises(ValueError) as info:
            check(_never, **RELU_SOFTMAX, mode=mode)
        assert str(info.value) == says


# --------------------------------------------------------------------------
# Planted mistakes, caught directionally.
# --------------------------------------------------------------------------


def test_biases_averaged_fail_by_name_with_the_worst_element_of_each():
    report = _report("bias_mean")
    assert not report.passed and report.mode == "directional"
    assert report.wrong_leaves == ("b_1", "b_2", "b_3") and report.entry_layer == 3
    assert report.rules == ("bias_only",)
    truth = _truth()
    theta, X, Y = reference.draw_case(0, **BIG, batch_size=8, dtype="float64")
    got = [np.asarray(b) for _, b in bias_mean(theta, X, Y)]
    for l, name in enumerate(("b_1", "b_2", "b_3"), start=1):
        leaf = _leaf(report, name)
        assert not leaf.ok and leaf.factor == 1 / 8
        _assert_worst_element(leaf, got[l - 1], truth[3 + l - 1])
    assert all(_leaf(report, name).ok for name in ("W_1", "W_2", "W_3"))
    text = report.message
    assert "(got = 1/N = 1/8 x expected)" in text
    assert "mode='full' gives it, every entry against autodiff" in text


def test_a_wrong_leaf_too_large_to_compare_in_full_is_still_named():
    report = _report("W2_transposed")
    assert not report.passed and report.wrong_leaves == ("W_2",) and report.entry_layer == 2
    assert report.rules == ("weight_wrong_bias_right",)
    leaf = _leaf(report, "W_2")
    assert leaf.index == () and leaf.error > report.tolerance
    oracle = report.seeds[0].oracle
    assert oracle.too_large == ("W_2",) and oracle.full == {}
    assert (
        "W_2    (128, 128)  not compared entry by entry: 16,384 entries, more than "
        "AUTO_FULL_LEAF_AT_MOST = 2,048" in report.message
    )


def test_the_message_prints_the_directional_report_of_the_failing_seed():
    report = _report("bias_mean")
    lines = report.seeds[0].oracle.lines
    assert lines[0].startswith("oracle: directional differences along random unit directions")
    assert all(f"  {line}\n" in report.message for line in lines)
    # One line per leaf, in Params' order.
    assert [line.split(":")[0] for line in lines[1:]] == ["W_1", "W_2", "W_3", "b_1", "b_2", "b_3"]
    assert "b_3: relative error" in report.message and ") FAIL\n" in report.message


def test_the_candidates_conventions_apply_to_the_quotients():
    # W_l (in, out), labels, the mean and weight decay: right passes, and so
    # closely that the quotients are the candidate's own loss's derivatives.
    report = _report("conventions")
    assert report.passed, report.message
    _assert_within_the_oracles_own_error(report)
    wrong = _report("no_decay")
    assert not wrong.passed and wrong.wrong_leaves == ("W_1", "W_2", "W_3")
    assert wrong.rules == ("weight_wrong_bias_right",)
    theta, X, Y = reference.draw_case(0, **BIG, batch_size=8, dtype="float64")
    labels = np.argmax(np.asarray(Y), axis=1)
    theta_in_out = manualgrad.Params(tuple(W.T for W in theta.W), theta.b)
    W_3 = np.asarray(_conventions(decay=0.0)(theta_in_out, X, labels)[2][0]).T
    truth = _truth("mean", LAM, labels=True)[2]
    _assert_worst_element(_leaf(wrong, "W_3"), W_3, truth)
    # The W_3 leaf is off by exactly the decay term it lacks.
    assert _leaf(wrong, "W_3").got - _leaf(wrong, "W_3").expected == pytest.approx(
        -LAM * np.asarray(theta.W[2])[_leaf(wrong, "W_3").index],
        rel=reference.FINITE_DIFFERENCE_TOLERANCE,
    )


def test_a_leaf_at_a_kink_is_reported_not_compared_by_name():
    # Row 2 of the batch moved onto relu's kink at z_1[2, 1] = 0.
    theta, X, Y = reference.draw_case(0, **RELU_SOFTMAX, batch_size=8, dtype="float64")
    X, W1, b1 = np.array(X), np.asarray(theta.W[0]), np.asarray(theta.b[0])
    X[2] -= (W1[1] @ X[2] + b1[1]) / (W1[1] @ W1[1]) * W1[1]
    report = reference.compare_backprop(
        numpy_backprop(("relu", "softmax"), "cross_entropy"),
        **RELU_SOFTMAX,
        seeds=(0,),
        data=(X, np.asarray(Y)),
        mode="directional",
    )
    assert not report.passed and report.wrong_leaves == () and report.entry_layer is None
    for name in ("W_1", "b_1"):
        leaf = _leaf(report, name)
        assert not leaf.ok and np.isnan(leaf.error)
        assert "at a kink, not compared" in leaf.not_compared
        assert "z_1[2, 1] (relu)" in leaf.not_compared
    assert _leaf(report, "W_2").ok and _leaf(report, "b_2").ok
    text = report.message
    assert "leaves of the candidate's gradient could not be compared, at a kink, in 1 of 1" in text
    assert "No compared leaf is wrong. Not compared: W_1, b_1" in text
    assert "rerun with mode='full' for the full diagnosis" in text


# --------------------------------------------------------------------------
# The report as data, and the command line.
# --------------------------------------------------------------------------


def test_to_dict_records_the_oracle_of_each_seed():
    data = json.loads(json.dumps(_report("bias_mean").to_dict(), allow_nan=False))
    assert data["mode"] == "directional" and data["options"]["mode"] == "directional"
    oracle = data["seeds"][0]["oracle"]
    assert oracle["kind"] == "directional"
    assert oracle["steps"] == list(directional.DIRECTIONAL_STEPS)
    assert set(oracle["errors"]) == set(LEAVES)
    assert max(oracle["errors"].values()) < reference.FINITE_DIFFERENCE_TOLERANCE
    assert oracle["directions"] == 8 and oracle["forward_passes"] > 0
    assert sorted(oracle["full"]) == ["b_1", "b_2", "b_3"] and oracle["too_large"] == []
    full = oracle["full"]["b_3"]
    assert full["oracle"]["kind"] == "central" and full["oracle"]["steps"] == [1e-6]
    assert full["undetermined"] == [] and full["relative_error"] == pytest.approx(
        7 / 8, rel=reference.FINITE_DIFFERENCE_TOLERANCE
    )
    leaf = next(r for r in data["seeds"][0]["leaves"] if r["name"] == "W_1")
    assert leaf["worst_index"] == [] and leaf["expected"] == "nan" and leaf["ok"] is True
    full_mode = reference.compare_backprop(
        numpy_backprop(("relu", "softmax"), "cross_entropy"), **RELU_SOFTMAX, seeds=(0,)
    ).to_dict()
    oracle = json.loads(json.dumps(full_mode, allow_nan=False))["seeds"][0]["oracle"]
    assert oracle["kind"] == "autodiff" and oracle["steps"] == [] and oracle["order"] is None
    assert oracle["errors"] == dict.fromkeys(["W_1", "W_2", "b_1", "b_2"])


SOURCE = textwrap.dedent(
    """
    import numpy as np


    def grads(theta, X, Y):
        W = [np.asarray(w) for w in theta.W]
        b = [np.asarray(v) for v in theta.b]
        A = [np.asarray(X)]
        for w, v in zip(W[:-1], b[:-1]):
            A.append(np.tanh(A[-1] @ w.T + v))
        Z = A[-1] @ W[-1].T + b[-1]
        S = np.exp(Z - Z.max(axis=1, keepdims=True))
        G = S / S.sum(axis=1, keepdims=True) - np.asarray(Y)
        pairs = []
        for l in range(len(W) - 1, -1, -1):
            pairs.insert(0, (G.T @ A[l], G.sum(axis=0)))
            if l:
                G = (G @ W[l]) * (1 - A[l] ** 2)
        return pairs
    """
)


def test_the_command_line_takes_a_mode(tmp_path, capsys):
    file, path = tmp_path / "big_net.py", tmp_path / "report.json"
    file.write_text(SOURCE, encoding="utf-8")
    network = ["--activations", "tanh,tanh,softmax", "--cost", "cross_entropy"]
    network += ["--dims", "64,128,128,10", "--seeds", "0"]
    code = cli.main([f"{file}:grads", *network, "--mode", "directional", "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Oracle: directional differences" in out
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["mode"] == "directional" and data["seeds"][0]["oracle"]["kind"] == "directional"
    assert cli.main([f"{file}:grads", *network, "--mode", "fast"]) == 2
    err = capsys.readouterr().err
    assert "mode must be one of 'full', 'directional', 'auto'; got 'fast'" in err
