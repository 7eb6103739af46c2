"""The diagnosis table, rule by rule, on hand-made observations (reference.checker.rules).

Every rule is a pure function of an Observation, so each is shown to fire on
one observation and to stay quiet on another; tests/test_checker.py and
tests/test_checker_options.py show each firing on a real candidate.
"""

from __future__ import annotations

import jax
import pytest

import manualgrad
import reference
from reference import checker
from reference.checker import LeafReport, LossReport, Observation
from tests.checker.numpy_nets import SOFTMAX, TANH3

# --------------------------------------------------------------------------
# The diagnosis table, rule by rule, on hand-made observations.
# --------------------------------------------------------------------------


def _observation(
    errors,
    *,
    factors=None,
    activations=TANH3,
    cost="mse",
    transposed=(),
    mistakes=None,
    batch_size=8,
    **fields,
):
    """An observation with leaf errors {name: error} (0 = right) and factors.

    ``fields`` are the observation's other fields (reduction, variants, ...).
    """
    factors = factors or {}
    leaves = tuple(
        LeafReport(
            name=name,
            layer=int(name[2:]),
            error=errors.get(name, 0.0),
            ok=errors.get(name, 0.0) <= 1e-10,
            factor=factors.get(name),
            transposed=name in transposed,
        )
        for l in range(1, len(activations) + 1)
        for name in (f"W_{l}", f"b_{l}")
    )
    return Observation(
        leaves=leaves,
        batch_size=batch_size,
        activations=activations,
        cost=cost,
        mistakes=mistakes or {},
        tolerance=1e-10,
        **fields,
    )


ALL = ("W_1", "b_1", "W_2", "b_2", "W_3", "b_3")
_W_ONLY = ("W_1", "W_2", "W_3")
_W_WRONG = dict.fromkeys(_W_ONLY, 0.5)


def _every(value):
    return dict.fromkeys(ALL, value)


def _loss(*, got, expected, gradient_error=0.0, matches=()):
    return LossReport(
        got=got,
        expected=expected,
        tolerance=1e-10,
        gradient_errors={"W_1": gradient_error},
        gradient_tolerance=1e-6,
        matches=matches,
    )


RULE_CASES = [
    # (rule, observation it must fire on, observation it must not fire on)
    (
        "sign_flipped",
        _observation(_every(2.0), factors=_every(-1.0)),
        _observation(_every(0.5), factors=_every(0.5)),
    ),
    (
        "mean_instead_of_sum",
        _observation(_every(0.875), factors=_every(1 / 8)),
        _observation(_every(0.875), factors={**_every(1 / 8), "W_1": None}),
    ),
    (
        "mse_half_convention",
        _observation(_every(1.0), factors=_every(2.0)),
        _observation(_every(1.0), factors=_every(2.0), cost="huber"),
    ),
    (
        "common_factor",
        _observation(_every(2.0), factors=_every(3.0)),
        _observation(_every(1.0), factors=_every(-1.0)),
    ),
    (
        "bias_only",
        _observation({"b_1": 0.9, "b_2": 0.9}, factors={"b_1": 0.125, "b_2": 0.125}),
        _observation({"b_1": 0.9, "W_1": 0.9}),
    ),
    (
        "transposed_weight_gradient",
        _observation({"W_2": 1.0}, transposed=("W_2",)),
        _observation({"W_2": 1.0}),
    ),
    (
        "diagonal_jacobian",
        _observation(_every(1.0), mistakes={"diagonal_jacobian": 1e-16}),
        _observation(_every(1.0), mistakes={"diagonal_jacobian": 0.3}),
    ),
    (
        "no_activation_derivative",
        _observation(
            {"W_1": 1, "b_1": 1, "W_2": 1, "b_2": 1}, mistakes={"no_activation_derivative": 0.0}
        ),
        _observation({"W_1": 1, "b_1": 1}),
    ),
    *(
        (
            name,
            _observation(_every(1.0), mistakes={name: 1e-16}),
            _observation(_every(1.0), mistakes={name: 0.3}),
        )
        for name in checker.MISTAKES
        if name not in ("diagonal_jacobian", "no_activation_derivative")
    ),
    ("stateful", _observation(_every(1.0), stateful=True), _observation(_every(1.0))),
    (
        "swapped_pair",
        _observation({"W_1": 1e-16}, swapped=(1,)),
        _observation({"W_1": 1.0, "b_1": 1.0}),
    ),
    (
        "weight_decay",
        _observation(_W_WRONG, weight_offset=0.1),
        _observation(_W_WRONG),
    ),
    (
        "labels",
        _observation(_every(1.0), cost="cross_entropy", variants={"labels": 1e-16}),
        _observation(_every(1.0), cost="cross_entropy", variants={"labels": 0.2}),
    ),
    (
        "weight_layout",
        _observation(_W_WRONG, transposed=_W_ONLY),
        _observation(_W_WRONG, transposed=("W_1", "W_3")),
    ),
    (
        "loss_value",
        _observation({}, loss=_loss(got=2.0, expected=1.0)),
        _observation({}, loss=_loss(got=1.0, expected=1.0, gradient_error=0.5)),
    ),
    (
        "loss_gradient",
        _observation({}, loss=_loss(got=1.0, expected=1.0, gradient_error=0.5)),
        _observation({}, loss=_loss(got=2.0, expected=1.0)),
    ),
    ("weight_wrong_bias_right", _observation({"W_3": 0.2}), _observation({"W_3": 0.2, "b_3": 0.1})),
    ("output_layer", _observation(_every(0.3)), _observation({"W_1": 1.0, "b_1": 1.0})),
    ("recursion", _observation({"W_1": 1.0, "b_1": 1.0}), _observation(_every(0.3))),
]


@pytest.mark.parametrize(("rule", "fires", "quiet"), RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_each_rule_is_a_pure_function_of_the_observation(rule, fires, quiet):
    (explain,) = [r.explain for r in checker.RULES if r.name == rule]
    assert explain(fires) is not None
    assert explain(quiet) is None


def test_every_rule_is_covered_by_a_rule_case():
    cases = [c[0] for c in RULE_CASES]
    assert sorted(cases) == sorted(r.name for r in checker.RULES)


def test_specific_rules_hide_the_structural_ones():
    o = _observation(
        {"W_1": 1, "b_1": 1, "W_2": 1, "b_2": 1}, mistakes={"no_activation_derivative": 0.0}
    )
    assert [name for name, _ in checker.diagnose(o)] == ["no_activation_derivative"]
    o = _observation({"W_1": 1, "b_1": 1, "W_2": 1, "b_2": 1})
    assert [name for name, _ in checker.diagnose(o)] == ["recursion"]


def test_entry_layer_is_the_outermost_wrong_layer():
    assert _observation({"W_1": 1.0, "b_2": 1.0}).entry_layer == 2
    assert _observation({}).entry_layer is None


def test_the_sum_versus_mean_rule_speaks_of_the_reduction_in_force():
    summed = _observation(_every(0.875), factors=_every(1 / 8))
    (text,) = [t for name, t in checker.diagnose(summed) if name == "mean_instead_of_sum"]
    assert "averages over the batch" in text and "The loss here is the SUM" in text
    averaged = _observation(_every(7.0), factors=_every(8.0), reduction="mean")
    (text,) = [t for name, t in checker.diagnose(averaged) if name == "mean_instead_of_sum"]
    assert "does not divide by N = 8" in text and "The loss here is the MEAN" in text
    assert "SUM over rows," not in text


def test_weight_layout_takes_over_from_transposed_weight_gradient():
    every = _observation(_W_WRONG, transposed=_W_ONLY)
    assert [name for name, _ in checker.diagnose(every)] == ["weight_layout"]
    some = _observation(_W_WRONG, transposed=("W_2",))
    assert [name for name, _ in checker.diagnose(some)] == ["transposed_weight_gradient"]


def test_the_weight_decay_rule_names_the_lam_it_implies_or_the_missing_term():
    undeclared = checker.diagnose(_observation(_W_WRONG, weight_offset=0.1))
    assert "weight_decay=0.1" in undeclared[0][1]
    missing = checker.diagnose(_observation(_W_WRONG, weight_offset=-0.1, weight_decay=0.1))
    assert "lacks the weight-decay term 0.1 W_l" in missing[0][1]
    doubled = checker.diagnose(_observation(_W_WRONG, weight_offset=0.1, weight_decay=0.1))
    assert "lam = 0.2" in doubled[0][1] and "without the 1/2" in doubled[0][1]


def test_independent_rules_are_reported_beside_the_structural_ones():
    o = _observation(_every(0.3), loss=_loss(got=2.0, expected=1.0, matches=("cost='mse'",)))
    assert [name for name, _ in checker.diagnose(o)] == ["output_layer", "loss_value"]
    assert "its value is that of cost='mse'" in checker.diagnose(o)[1][1]


def test_the_diagonal_jacobian_finding_lists_the_networks_nonpointwise_activations():
    o = _observation(
        _every(1.0),
        activations=("softmax", "tanh", "radial_sigmoid"),
        mistakes={"diagonal_jacobian": 0.0},
        nonpointwise=("softmax", "radial_sigmoid"),
    )
    (text,) = [t for name, t in checker.diagnose(o) if name == "diagonal_jacobian"]
    assert "taken as diagonal (softmax, radial_sigmoid)" in text


def test_a_factor_needs_a_leaf_with_entries_enough_to_show_it():
    one_entry = LeafReport("b_1", 1, 3.5, False, factor=-2.5, shows_factor=False)
    o = Observation(
        leaves=(one_entry, LeafReport("W_1", 1, 0.0, True)),
        batch_size=8,
        activations=("tanh",),
        cost="mse",
        mistakes={},
        tolerance=1e-10,
    )
    assert o.common_factor() is None
    assert [name for name, _ in checker.diagnose(o)] == ["bias_only"]


# --------------------------------------------------------------------------
# The mistakes are planted into a correct backprop.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activations", "cost", "dims"),
    [
        tuple(SOFTMAX.values()),
        (("relu", "max_pool", "sigmoid"), "binary_cross_entropy", (3, 5, 4, 2)),
        (("radial_sigmoid", "identity"), "huber", (2, 3, 2)),
    ],
)
def test_the_unplanted_backprop_of_the_diagnosis_equals_reference_grad(activations, cost, dims):
    theta, X, Y = reference.draw_case(3, activations=activations, cost=cost, dims=dims)
    objects = tuple(manualgrad.get_activation(a) for a in activations)
    p = checker.mistakes.forward_pass(theta, X, Y, objects, manualgrad.get_cost(cost))
    expected = jax.tree_util.tree_leaves(reference.grad(theta, X, Y, activations, cost))
    assert reference.relative_error(checker.mistakes.backprop(p), expected) <= 1e-12
