"""Directional checks: right gradients pass, planted mistakes are caught by leaf, kinks avoided.

The network is above the parameter count where ``check_backprop(mode="auto")``
turns directional, and has a relu layer (kinks), square weights past the
first and layers of one width (so every mistake of the checker's gallery
fits) and a softmax output (a Jacobian that is not diagonal). The truth is
jax.grad; the planted mistakes are the gallery's own
(``reference.checker.mistakes``), recomputed from the same forward pass.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad
import reference
from benchmarks import oracles
from reference import directional, verify
from reference.checker.mistakes import MISTAKES, forward_pass
from reference.finite_differences import leaf_names

#: Every W_l past the first square and every Jacobian alike: each mistake fits.
DIMS = (32, 96, 96, 96)
ACTIVATIONS = ("relu", "tanh", "softmax")
COST = "cross_entropy"


@functools.cache
def _case(seed: int = 0):
    return reference.draw_case(seed, activations=ACTIVATIONS, cost=COST, dims=DIMS, batch_size=8)


@functools.cache
def _oracle(seed: int = 0) -> directional.DirectionalDerivatives:
    theta, X, Y = _case(seed)
    return directional.directional_derivatives(theta, X, Y, ACTIVATIONS, COST, seed=seed)


def _truth(seed: int = 0) -> manualgrad.Params:
    theta, X, Y = _case(seed)
    return reference.grad(theta, X, Y, ACTIVATIONS, COST)


def _as_params(leaves) -> manualgrad.Params:
    L = len(leaves) // 2
    return manualgrad.Params(tuple(leaves[:L]), tuple(leaves[L:]))


def test_the_network_is_one_that_auto_mode_checks_directionally():
    theta, _, _ = _case()
    count = directional.num_parameters(theta)
    assert count == 32 * 96 + 96 + 2 * (96 * 96 + 96)
    assert directional.check_mode("auto", count) == "directional"
    assert directional.check_mode("auto", directional.AUTO_DIRECTIONAL_ABOVE) == "full"


@pytest.mark.parametrize("seed", [0, 1])
def test_backprop_passes_and_the_oracle_error_bounds_the_true_error(seed):
    theta, X, Y = _case(seed)
    grads = manualgrad.ALGORITHMS[2](theta, X, Y, ACTIVATIONS, COST)
    report = _oracle(seed).compare(grads)
    assert report.passed, str(report)
    assert report.failing == () and report.not_compared == {}
    assert report.tolerance == reference.FINITE_DIFFERENCE_TOLERANCE
    truth = _oracle(seed).compare(_truth(seed))
    for name in truth.errors:
        # <jax.grad, u> against the quotients: within the quotients' own bound.
        assert truth.errors[name] <= truth.oracle_errors[name] < 1e-6
        assert len(truth.derivatives[name]) == truth.directions
    # W_3 and b_3 move no relu pre-activation: nothing stops the largest step.
    assert (
        set(report.steps["W_3"]) == set(report.steps["b_3"]) == {directional.DIRECTIONAL_STEPS[0]}
    )


def _variants(theta, X, Y, name: str) -> dict[str, list[np.ndarray]]:
    """The gallery's mistake ``name`` planted: variant ("" if made one way) -> leaves."""
    acts = tuple(manualgrad.get_activation(a) for a in ACTIVATIONS)
    planted = MISTAKES[name].plant(forward_pass(theta, X, Y, acts, manualgrad.get_cost(COST)))
    if planted is None:
        return {}
    return dict(planted) if isinstance(planted, Mapping) else {"": planted}


@functools.cache
def _planted() -> dict[str, dict[str, list[np.ndarray]]]:
    """mistake -> variant -> its gradient leaves, on this network."""
    return {name: _variants(*_case(), name) for name in MISTAKES}


def test_every_mistake_of_the_gallery_fits_this_network():
    assert all(_planted()[name] for name in MISTAKES), _planted().keys()


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_planted_mistake_is_caught_in_the_leaves_it_spoils(mistake):
    names = leaf_names(len(DIMS) - 1)
    truth = [np.asarray(v) for v in (*_truth().W, *_truth().b)]
    for variant, leaves in _planted()[mistake].items():
        exact = reference.leaf_relative_errors(leaves, truth)
        wrong = {n for n, e in zip(names, exact, strict=True) if e > 1e-3}
        right = {n for n, e in zip(names, exact, strict=True) if e < 1e-9}
        assert wrong, f"{mistake} {variant} spoils nothing here"
        report = _oracle().compare(_as_params(leaves))
        assert not report.passed
        failing = set(report.failing)
        assert wrong <= failing and not right & failing, f"{mistake} {variant}:\n{report}"


def test_a_dead_layer_passes_when_zero_and_fails_when_not():
    # b_1 = -100: every relu of layer 1 is off, so W_1, b_1 and W_2 have zero gradients
    # and the loss does not move along their directions at all.
    theta, X, Y = _case()
    dead = manualgrad.Params(theta.W, (jnp.full((DIMS[1],), -100.0), *theta.b[1:]))
    truth = reference.grad(dead, X, Y, ACTIVATIONS, COST)
    assert not np.any(np.asarray(truth.W[0])) and not np.any(np.asarray(truth.W[1]))
    oracle = directional.directional_derivatives(dead, X, Y, ACTIVATIONS, COST)
    assert oracle.compare(truth).passed
    # Forgetting relu's derivative gives the dead layer a gradient.
    (wrong,) = _variants(dead, X, Y, "no_activation_derivative").values()
    assert {"W_1", "b_1"} <= set(oracle.compare(_as_params(wrong)).failing)


def test_one_wrong_entry_is_never_hidden():
    # Rademacher directions: <delta, v> = delta / sqrt(n) for one wrong entry,
    # and |<g, v>| <= n max|g| / sqrt(n), so the relative error is at least 1 / n.
    truth = _truth()
    W2 = np.asarray(truth.W[1]).copy()
    W2[3, 7] += np.max(np.abs(W2))
    report = _oracle().compare(manualgrad.Params((truth.W[0], W2, truth.W[2]), truth.b))
    assert report.failing == ("W_2",)
    assert report.errors["W_2"] >= 1 / W2.size - report.oracle_errors["W_2"]


def test_a_pre_activation_planted_at_a_kink_leaves_its_layer_not_compared():
    theta, X, Y = _case()
    W1, b1 = np.asarray(theta.W[0]), np.asarray(theta.b[0]).copy()
    b1[5] = -W1[5] @ np.asarray(X[2])  # z_1[2, 5] = 0, up to rounding: relu's kink
    planted = manualgrad.Params(theta.W, (jnp.asarray(b1), *theta.b[1:]))
    truth = reference.grad(planted, X, Y, ACTIVATIONS, COST)
    report = directional.directional_check(truth, planted, X, Y, ACTIVATIONS, COST)
    assert set(report.not_compared) == {"W_1", "b_1"}
    for name in ("W_1", "b_1"):
        assert "at a kink, not compared" in report.not_compared[name]
        assert "z_1[2, 5] (relu)" in report.not_compared[name]
        assert math.isnan(report.errors[name])
    assert not report.passed and report.failing == ()
    assert report.redraws["W_1"] == report.directions * directional.REDRAWS


def test_a_single_sample_and_a_float32_gradient():
    theta, X, Y = _case()
    x, y = X[0], Y[0]
    grads = manualgrad.ALGORITHMS[1](theta, x, y, ACTIVATIONS, COST)
    assert directional.directional_check(grads, theta, x, y, ACTIVATIONS, COST, directions=2).passed
    as32 = lambda tree: [np.asarray(v, np.float32) for v in tree]  # noqa: E731
    grads32 = list(zip(as32(_truth().W), as32(_truth().b), strict=True))
    report = _oracle().compare(grads32)
    assert report.tolerance == reference.tolerance("float32") and report.passed


def test_the_report_says_what_it_is():
    report = _oracle().compare(_truth())
    text = str(report)
    assert text.splitlines()[0].startswith("oracle: directional differences")
    assert "W_1: relative error" in text and "oracle's own error <=" in text
    assert report.oracle.kind == "directional"
    assert report.oracle.steps == directional.DIRECTIONAL_STEPS


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"directions": 0}, "directions must be an integer of at least 1; got 0"),
        ({"redraws": -1}, "redraws must be an integer of at least 0; got -1"),
        ({"seed": 1.5}, "seed must be an integer; got 1.5"),
        ({"tolerance": 0.0}, "tolerance must be a positive number; got 0.0"),
    ],
)
def test_a_bad_option_is_named(options, message):
    theta, X, Y = _case()
    with pytest.raises(ValueError, match=f"reference.directional_check: {message}"):
        directional.directional_check(_truth(), theta, X, Y, ACTIVATIONS, COST, **options)


def test_malformed_grads_are_named():
    truth = _truth()
    with pytest.raises(ValueError, match=r"grads' W_2 has shape \(96, 95\), expected \(96, 96\)"):
        _oracle().compare(manualgrad.Params((truth.W[0], truth.W[1][:, 1:], truth.W[2]), truth.b))
    with pytest.raises(TypeError, match="grads must be Params or a list of"):
        _oracle().compare("gradient")


def test_a_bad_mode_is_named_with_the_valid_ones():
    with pytest.raises(ValueError, match="mode must be one of 'full', 'directional', 'auto'"):
        directional.check_mode("fast", 10)


def test_verify_large_checks_algorithms_2_and_5_directionally(capsys, tmp_path):
    path = tmp_path / "verify.json"
    argv = ["--quick", "--algorithms", "2,5", "--activations", "tanh", "--costs", "mse"]
    code = verify.main([*argv, "--large", "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "--large: dims (256, 512, 512, 10), 399,370 parameters" in out
    assert "--large oracle: directional differences" in out
    summary = json.loads(path.read_text())
    assert summary["cells"] and summary["large"]["passed"] is True
    rows = summary["large"]["rows"]
    assert [row["algorithm"] for row in rows] == [2, 5]
    assert all(max(row["errors"].values()) <= row["tolerance"] for row in rows)
    assert summary["large"]["network"]["parameters"] == 399_370


def test_verify_large_needs_a_batch_algorithm(capsys):
    assert verify.main(["--quick", "--algorithms", "1,3", "--large"]) == 2
    assert "--large checks Algorithms 2 and 5" in capsys.readouterr().err


def test_the_benchmark_counts_forward_passes_that_do_not_depend_on_the_width(monkeypatch):
    monkeypatch.setitem(oracles.WIDTHS, True, (8,))
    monkeypatch.setitem(oracles.REPEATS, True, 1)
    (row,) = oracles.benchmark_oracles(quick=True)["rows"]
    assert row["width"] == 8 and row["directional_passed"] and row["full_measured"]
    # No kinks: one probe and four extrapolation steps (two passes each) per
    # direction, 8 directions for each of 6 leaves, whatever the width.
    assert row["directional_forward_passes"] == 2 + 6 * oracles.DIRECTIONS * (2 + 2 * 4)
