"""reference.check_backprop: correct gradients pass, planted mistakes are named.

The gallery plants one classic mistake each into a hand-written backprop and
checks that the failure names the right layer and the right diagnosis.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import re
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad
import reference
from reference import checker
from tests.checker.numpy_nets import (
    RELU_SIGMOID,
    RELU_SOFTMAX,
    SOFTMAX,
    SQUARE,
    TANH3,
    as_pairs,
    derivative,
    numpy_backprop,
    scaled,
)

pytest_plugins = ["pytester"]


# --------------------------------------------------------------------------
# Correct candidates pass.
# --------------------------------------------------------------------------


def _jax_loss(theta, X, Y, *, reduce=jnp.sum):
    """tanh hidden layer, softmax output, cross-entropy, reduced over the rows."""
    H = jnp.tanh(X @ theta.W[0].T + theta.b[0][None, :])
    logits = H @ theta.W[1].T + theta.b[1][None, :]
    return reduce(-jnp.sum(Y * jax.nn.log_softmax(logits, axis=1), axis=1))


@jax.jit
def _jax_grad_candidate(theta, X, Y):
    return jax.grad(_jax_loss)(theta, X, Y)


def _manualgrad_candidate(theta, X, Y):
    return manualgrad.backprop_batch(theta, X, Y, ("relu", "sigmoid"), "binary_cross_entropy")


CORRECT = [
    pytest.param(_jax_grad_candidate, *SOFTMAX.values(), id="jax-grad"),
    pytest.param(
        _manualgrad_candidate,
        ("relu", "sigmoid"),
        "binary_cross_entropy",
        (3, 6, 2),
        id="manualgrad-batch",
    ),
    pytest.param(
        numpy_backprop(("relu", "softmax"), "cross_entropy"),
        ("relu", "softmax"),
        "cross_entropy",
        (4, 5, 3),  # the network of docs/checker.md
        id="numpy-relu-softmax",
    ),
    pytest.param(numpy_backprop(TANH3, "mse"), TANH3, "mse", SQUARE, id="numpy-mse"),
]


def _one_entry_off(candidate, relative):
    """The candidate with W_1[0, 0] moved by ``relative`` times W_1's largest entry."""

    def grads(theta, X, Y):
        pairs = as_pairs(candidate(theta, X, Y))
        W1 = pairs[0][0]
        W1[0, 0] += relative * np.abs(W1).max()
        return pairs

    return grads


@pytest.mark.parametrize(("candidate", "activations", "cost", "dims"), CORRECT)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_correct_candidate_passes_and_one_entry_off_fails(
    candidate, activations, cost, dims, dtype
):
    network = dict(activations=activations, cost=cost, dims=dims, dtype=dtype)
    reference.check_backprop(candidate, **network)  # three seeds, no AssertionError
    off = _one_entry_off(candidate, 100 * reference.tolerance(dtype))
    with pytest.raises(AssertionError, match=r"W_1 .* WRONG  \[0, 0\]"):
        reference.check_backprop(off, **network, seeds=(0,))


def test_params_and_list_of_pairs_are_both_accepted():
    as_list = numpy_backprop(TANH3, "mse")

    def as_params(theta, X, Y):
        pairs = as_list(theta, X, Y)
        return manualgrad.Params(tuple(W for W, _ in pairs), tuple(b for _, b in pairs))

    for candidate in (as_params, as_list):
        reference.check_backprop(candidate, activations=TANH3, cost="mse", dims=SQUARE, seeds=(5,))


def test_float64_check_needs_no_x64_configuration():
    with jax.enable_x64(False):
        reference.check_backprop(_jax_grad_candidate, **SOFTMAX, seeds=(0,))


def test_candidate_receives_params_and_jax_arrays_of_the_check_dtype():
    seen = {}

    def spy(theta, X, Y):
        seen.update(theta=theta, X=X, Y=Y)
        return numpy_backprop(TANH3, "mse")(theta, X, Y)

    reference.check_backprop(
        spy, activations=TANH3, cost="mse", dims=SQUARE, seeds=(0,), dtype="float32"
    )
    assert isinstance(seen["theta"], manualgrad.Params)
    assert isinstance(seen["X"], jax.Array) and seen["X"].shape == (8, 3)
    assert seen["Y"].shape == (8, 4)
    assert {v.dtype for v in jax.tree_util.tree_leaves(seen)} == {jnp.dtype("float32")}


# --------------------------------------------------------------------------
# The gallery of planted mistakes.
# --------------------------------------------------------------------------


def _z_for_a(G, l, Z, A):
    return G.T @ (A[0] if l == 1 else Z[l - 1])


def _softmax_as_diagonal(name, cost, z, a, Y):
    # diag(s (1 - s)) @ (-y / s), the cross-entropy gradient through a diagonal Jacobian.
    return a * (1 - a) * (-np.asarray(Y) / a)


@jax.jit
def _mean_loss_candidate(theta, X, Y):
    """JAX: jax.grad of the MEAN over rows instead of the sum."""
    return jax.grad(functools.partial(_jax_loss, reduce=jnp.mean))(theta, X, Y)


def _square_transposed(theta, X, Y):
    pairs = numpy_backprop(TANH3, "mse")(theta, X, Y)
    return [(W.T if l == 2 else W, b) for l, (W, b) in enumerate(pairs, start=1)]


def _bias_mean(theta, X, Y):
    return [(W, b / len(X)) for W, b in numpy_backprop(TANH3, "mse")(theta, X, Y)]


def _missing_half_derivative(name, Z, l):
    return 1 - np.tanh(Z[l])  # tanh' is 1 - tanh^2


def _weight_input_squared(G, l, Z, A):
    return G.T @ (A[l - 1] ** 2 if l == 2 else A[l - 1])


def _output_jacobian_twice(name, cost, z, a, Y):
    return derivative(name, z) ** 2 * (a - np.asarray(Y))


@dataclasses.dataclass(frozen=True)
class Planted:
    """A hand-written candidate with one mistake, and what the checker must say.

    On the network TANH3 with dims SQUARE unless ``softmax``, then SOFTMAX.
    """

    candidate: object
    wrong: tuple[str, ...]  # exactly the leaves that must be reported WRONG
    says: tuple[str, ...]  # substrings of the message
    rule: str  # the diagnosis rule that must fire
    softmax: bool = False

    @property
    def network(self) -> dict:
        return SOFTMAX if self.softmax else dict(activations=TANH3, cost="mse", dims=SQUARE)


def _planted(**plant):
    return numpy_backprop(TANH3, "mse", plant=plant)


EVERY = ("W_1", "b_1", "W_2", "b_2", "W_3", "b_3")
BELOW_3 = ("W_1", "b_1", "W_2", "b_2")

GALLERY = {
    "missing activation derivative in the recursion": Planted(
        _planted(jacobian=lambda name, Z, l: 1.0),
        wrong=BELOW_3,
        says=("enters at layer 2", "layer 3 is right", "drops Jac_{l-1}^T"),
        rule="no_activation_derivative",
    ),
    "z used instead of a in the weight gradient": Planted(
        _planted(grad_W=_z_for_a),
        wrong=("W_2", "W_3"),
        says=("enters at layer 3", "z_{l-1} where a_{l-1} belongs", "eq. 3.3 / 4.3"),
        rule="preactivation_in_weight_gradient",
    ),
    "mean instead of sum": Planted(
        _mean_loss_candidate,
        wrong=("W_1", "b_1", "W_2", "b_2"),
        says=("1/N = 1/8", "mean vs sum", "SUM over rows"),
        rule="mean_instead_of_sum",
        softmax=True,
    ),
    "transposed weight gradient (square W)": Planted(
        _square_transposed,
        wrong=("W_2",),
        says=("W_2 came back transposed", "eq. 4.3"),
        rule="transposed_weight_gradient",
    ),
    "softmax Jacobian taken as diagonal": Planted(
        numpy_backprop(
            ("tanh", "softmax"), "cross_entropy", plant={"output_grad_z": _softmax_as_diagonal}
        ),
        wrong=("W_1", "b_1", "W_2", "b_2"),
        says=("enters at layer 2", "diag(s) - s s^T", "taken as diagonal (softmax)"),
        rule="diagonal_jacobian",
        softmax=True,
    ),
    "wrong sign": Planted(
        scaled(numpy_backprop(TANH3, "mse"), -1.0),
        wrong=EVERY,
        says=("exact negative", "y - y_hat"),
        rule="sign_flipped",
    ),
    "missing W^T in the recursion (square W)": Planted(
        _planted(back=lambda G, W, l: G @ W[l].T),
        wrong=BELOW_3,
        says=("enters at layer 2", "W_l where W_l^T belongs"),
        rule="weight_not_transposed",
    ),
    "W^T left out of the recursion (square W)": Planted(
        _planted(back=lambda G, W, l: G),
        wrong=BELOW_3,
        says=("enters at layer 2", "without W_l^T in the recursion"),
        rule="weight_omitted",
    ),
    "output Jacobian left out": Planted(
        _planted(output_grad_z=lambda name, cost, z, a, Y: a - np.asarray(Y)),
        wrong=EVERY,
        says=("grad_z_L = grad_yhat C(-, y)", "sigma_L = tanh"),
        rule="no_output_jacobian",
    ),
    "off-by-one layer in the recursion": Planted(
        _planted(jacobian=lambda name, Z, l: derivative(name, Z[l + 1])),
        wrong=BELOW_3,
        says=("enters at layer 2", "off-by-one layer index"),
        rule="jacobian_off_by_one",
    ),
    "MSE without the 1/2": Planted(
        scaled(numpy_backprop(TANH3, "mse"), 2.0),
        wrong=EVERY,
        says=("factor 2", "1/2 ||y_hat - y||^2"),
        rule="mse_half_convention",
    ),
    "bias gradient averaged over rows": Planted(
        _bias_mean,
        wrong=("b_1", "b_2", "b_3"),
        says=("only the bias gradients", "grad_Z_l^T 1_N"),
        rule="bias_only",
    ),
    "a wrong activation derivative (no named mistake)": Planted(
        _planted(jacobian=_missing_half_derivative),
        wrong=BELOW_3,
        says=("enters at layer 2", "recursion eq. 3.2 / 4.2", "sigma_2 = tanh"),
        rule="recursion",
    ),
    "a wrong weight-gradient input (no named mistake)": Planted(
        _planted(grad_W=_weight_input_squared),
        wrong=("W_2",),
        says=("b_2 is right, so grad_z_2 is right, but W_2 is wrong", "eq. 3.3 / 4.3"),
        rule="weight_wrong_bias_right",
    ),
    "a wrong output gradient (no named mistake)": Planted(
        _planted(output_grad_z=_output_jacobian_twice),
        wrong=EVERY,
        says=("output layer L = 3 is already wrong", "eq. 3.1 / 4.1"),
        rule="output_layer",
    ),
}


def _failure(planted: Planted) -> str:
    with pytest.raises(AssertionError) as info:
        reference.check_backprop(planted.candidate, **planted.network, seeds=(0, 1))
    return str(info.value)


@pytest.mark.parametrize("name", list(GALLERY))
def test_planted_mistake_is_caught_with_its_layer_and_diagnosis(name):
    planted = GALLERY[name]
    message = _failure(planted)
    reported_wrong = {line.split()[0] for line in message.splitlines() if " WRONG " in f"{line} "}
    assert reported_wrong == set(planted.wrong), message
    for text in planted.says:
        assert text in message, f"{text!r} not in:\n{message}"
    assert re.findall(r"\(rule: (\w+)\)", message) == [planted.rule]  # and no other rule
    assert "in 2 of 2 seeds" in message
    assert "reference.draw_case(0," in message  # how to reproduce
    assert "manualgrad.init_params(key_theta" in message


def test_failure_names_the_worst_element_and_expected_vs_got():
    message = _failure(GALLERY["z used instead of a in the weight gradient"])
    (line,) = [line for line in message.splitlines() if line.strip().startswith("W_3")]
    assert "WRONG" in line and "expected" in line and "got" in line
    assert "[" in line.split("WRONG")[1]  # the element's index


def test_only_the_seeds_that_fail_are_reported():
    good = numpy_backprop(TANH3, "mse")
    calls = []

    def wrong_on_second_call(theta, X, Y):
        calls.append(1)
        pairs = good(theta, X, Y)
        return pairs if len(calls) != 2 else [(2 * W, b) for W, b in pairs]

    with pytest.raises(AssertionError, match=r"in 1 of 3 seeds \(seeds \[1\]\)"):
        reference.check_backprop(wrong_on_second_call, activations=TANH3, cost="mse", dims=SQUARE)


def test_float32_check_uses_the_float32_tolerance():
    # A float32 gradient rounded to ~1e-7 passes a float32 check but not float64.
    good = numpy_backprop(TANH3, "mse")

    def rounded(theta, X, Y):
        return [(W.astype(np.float32).astype(np.float64), b) for W, b in good(theta, X, Y)]

    args = dict(activations=TANH3, cost="mse", dims=SQUARE, seeds=(0,))
    reference.check_backprop(rounded, dtype="float32", **args)
    with pytest.raises(AssertionError, match="tolerance 1e-10"):
        reference.check_backprop(rounded, dtype="float64", **args)


# --------------------------------------------------------------------------
# Malformed output: an AssertionError that says exactly what is wrong.
# --------------------------------------------------------------------------

GOOD = numpy_backprop(TANH3, "mse")


def _returning(change):
    def candidate(theta, X, Y):
        return change(GOOD(theta, X, Y), theta)

    return candidate


MALFORMED = [
    (lambda p, t: p[:2], "candidate returned 2 layers, network has 3"),
    (
        lambda p, t: [(W[:, :2], b) for W, b in p],
        "W_1 has shape (4, 2), expected (4, 3) — grad_W_1 = grad_Z_1^T A_0",
    ),
    (
        lambda p, t: [(W, np.tile(b, (8, 1)) / 8) for W, b in p],
        "b_1 has shape (8, 4), expected (4,) — one row per sample",
    ),
    (
        lambda p, t: [(W, np.full(8, b.sum())) for W, b in p],
        "b_1 has shape (8,), expected (4,) — one entry per sample: grad_Z_1 was summed over "
        "the wrong axis",
    ),
    (lambda p, t: [(W, b[:3]) for W, b in p], "b_1 has shape (3,), expected (4,)"),
    (lambda p, t: [(np.where(W > 0, np.nan, W), b) for W, b in p], "non-finite entries"),
    (lambda p, t: [(W.tolist(), b) for W, b in p], "W_1 is a list, not an array"),
    (lambda p, t: [(W.astype(np.int64), b) for W, b in p], "W_1 has dtype int64"),
    (
        lambda p, t: [(W.astype(np.float32), b) for W, b in p],
        "W_1 has dtype float32, but the check runs in float64",
    ),
    (lambda p, t: {"W": 1}, "candidate returned dict"),
    (
        lambda p, t: [(W,) for W, b in p],
        "layer 1 of the candidate's result is not a (W_1, b_1) pair",
    ),
    (lambda p, t: manualgrad.Params(t.W, t.b[:2]), "Params with 3 weight and 2 bias gradients"),
]


@pytest.mark.parametrize(("change", "says"), MALFORMED)
def test_malformed_output_is_an_assertion_error_saying_what_is_wrong(change, says):
    with pytest.raises(AssertionError) as info:
        reference.check_backprop(
            _returning(change), activations=TANH3, cost="mse", dims=SQUARE, seeds=(0,)
        )
    assert says in str(info.value)


def test_a_weight_gradient_in_the_transposed_shape_is_put_back_and_named():
    def first_transposed(theta, X, Y):
        return [(W.T if l == 1 else W, b) for l, (W, b) in enumerate(GOOD(theta, X, Y), 1)]

    report = reference.compare_backprop(
        first_transposed, activations=TANH3, cost="mse", dims=SQUARE, seeds=(0,)
    )
    assert not report.passed and report.wrong_leaves == ("W_1",)
    assert report.rules == ("transposed_weight_gradient",)
    (w1,) = [r for r in report.seeds[0].leaves if r.name == "W_1"]
    assert w1.shape == (3, 4) and w1.returned == "transposed" and w1.error < 1e-15
    assert "came back transposed; right once put back" in report.message


@pytest.mark.parametrize("form", ["column", "row"])
def test_biases_shaped_as_a_column_or_a_row_are_read_and_reported(form):
    def shaped(theta, X, Y):
        return [(W, b[:, None] if form == "column" else b[None, :]) for W, b in GOOD(theta, X, Y)]

    report = reference.compare_backprop(
        shaped, activations=TANH3, cost="mse", dims=SQUARE, seeds=(0,)
    )
    assert report.passed, report.message
    assert [r.shape for r in report.seeds[0].leaves if r.kind == "b"] == (
        [(4, 1)] * 3 if form == "column" else [(1, 4)] * 3
    )
    assert ("(n_l, 1)" if form == "column" else "(1, n_l)") in report.message


# --------------------------------------------------------------------------
# Bad arguments: a ValueError.
# --------------------------------------------------------------------------

BAD_ARGUMENTS = [
    (dict(activations=("tanh", "swish"), cost="mse", dims=(3, 4, 2)), "unknown activation 'swish'"),
    (
        dict(activations=("tanh",), cost="mse", dims=(3, 4, 2)),
        "describe 2 layers but 1 activations",
    ),
    (dict(activations=("tanh", "identity"), cost="l1", dims=(3, 4, 2)), "unknown cost 'l1'"),
    (
        dict(activations=("tanh", "relu"), cost="cross_entropy", dims=(3, 4, 2)),
        "cross_entropy is not defined on every output of sigma_L = relu",
    ),
    (
        dict(activations=("tanh", "identity"), cost="mse", dims=(3, 4, 2), dtype="float16"),
        "dtype must be one of",
    ),
    (dict(activations=("tanh", "identity"), cost="mse", dims=(3, 4, 2), seeds=()), "seeds"),
    (
        dict(activations=("tanh", "identity"), cost="mse", dims=(3, 4, 2), batch_size=0),
        "batch_size",
    ),
    (dict(activations="tanh", cost="mse", dims=(3, 4)), "one entry per layer"),
]


@pytest.mark.parametrize(("arguments", "says"), BAD_ARGUMENTS)
def test_bad_arguments_raise_value_error(arguments, says):
    with pytest.raises(ValueError, match=None) as info:
        reference.check_backprop(GOOD, **arguments)
    assert says in str(info.value)


def test_output_activations_are_those_whose_range_the_cost_accepts():
    # By hand: cross-entropy takes log y_hat (y_hat > 0); binary cross-entropy also
    # log(1 - y_hat) (y_hat < 1). relu reaches 0, elu (alpha = 1) reaches below 0.
    assert checker.OUTPUT_ACTIVATIONS == {
        "mse": None,
        "huber": None,
        "cross_entropy": ("sigmoid", "softmax", "softplus"),
        "binary_cross_entropy": ("sigmoid", "softmax"),
    }


@dataclasses.dataclass(frozen=True)
class _Exp(manualgrad.Pointwise):
    """exp, an output activation of one's own, positive everywhere."""

    name = "exp"
    output_range = manualgrad.Interval(0.0, float("inf"))

    def __call__(self, z):
        return jnp.exp(z)

    def derivative(self, z):
        return jnp.exp(z)


@dataclasses.dataclass(frozen=True)
class _Shifted(manualgrad.Pointwise):
    """z + 1, an activation of one's own that declares no output range."""

    name = "shifted"

    def __call__(self, z):
        return z + 1

    def derivative(self, z):
        return jnp.ones_like(z)


def test_an_output_activation_of_ones_own_is_accepted_by_its_declared_range():
    def exp_cross_entropy(theta, X, Y):
        # Z = X W^T + b, y_hat = exp(Z), C = -sum Y log y_hat = -sum Y Z: grad_Z = -Y.
        G = -np.asarray(Y)
        return [(G.T @ np.asarray(X), G.sum(axis=0))]

    network = dict(cost="cross_entropy", dims=(3, 2), seeds=(0,))
    reference.check_backprop(exp_cross_entropy, activations=(_Exp(),), **network)
    with pytest.raises(ValueError, match="declares its output_range"):
        reference.check_backprop(exp_cross_entropy, activations=(_Shifted(),), **network)


def test_candidate_that_is_not_callable_is_a_type_error():
    with pytest.raises(TypeError, match="callable"):
        reference.check_backprop(None, activations=("tanh",), cost="mse", dims=(2, 2))


# --------------------------------------------------------------------------
# The pytest fixture, registered through the pytest11 entry point.
# --------------------------------------------------------------------------


def test_check_backprop_fixture_is_registered_by_the_plugin(pytester):
    pytester.makepyfile(
        textwrap.dedent(
            """
            import manualgrad

            def grads(theta, X, Y):
                return manualgrad.backprop_batch(theta, X, Y, ("tanh",) * 3, "mse")

            def test_right(check_backprop):
                check_backprop(grads, activations=("tanh",) * 3, cost="mse",
                               dims=(3, 4, 4, 4), seeds=(0,))

            def test_mean(check_backprop):
                def mean(theta, X, Y):
                    g = grads(theta, X, Y)
                    return manualgrad.Params(tuple(w / len(X) for w in g.W),
                                             tuple(v / len(X) for v in g.b))
                check_backprop(mean, activations=("tanh",) * 3, cost="mse",
                               dims=(3, 4, 4, 4), seeds=(0,))
            """
        )
    )
    result = pytester.runpytest_inprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*mean vs sum*"])


# --------------------------------------------------------------------------
# The guide's examples run.
# --------------------------------------------------------------------------

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "checker.md"


def _guide_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)


@pytest.fixture(scope="module")
def guide() -> tuple[dict, str]:
    """Every Python example of the guide run in order in one namespace, and what it printed."""
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in _guide_blocks():
            exec(compile(block, str(GUIDE), "exec"), namespace)
    return namespace, printed.getvalue()


def test_the_guide_python_examples_run(guide):
    # Each recipe calls check_backprop or check_vjp, which raise unless it passes.
    namespace, printed = guide
    recipes = ("column_grads", "course_grads", "classifier_grads", "affine_backward")
    for name in ("my_grads", "test_my_grads", *recipes, "exp_output_grads", "my_loss"):
        assert name in namespace, name
    assert namespace["report"].passed
    assert max(float(e) for e in printed.strip("[]\n").split(",")) <= 1e-10


def test_the_guides_recipes_fail_as_the_guide_says(guide):
    namespace, _ = guide
    column_grads, classifier_grads = namespace["column_grads"], namespace["classifier_grads"]

    def as_written(theta, X, Y):  # (sum_b, sum_w), as the per-sample code returns them
        grads = column_grads(theta, X, Y)
        return list(grads.b), list(grads.W)

    course = next(b for b in _guide_blocks() if "def course_grads" in b)
    summed_wrong = course.replace("dZ2.sum(axis=1,", "dZ2.sum(axis=0,")
    assert summed_wrong != course
    wrong_axis: dict = {}
    exec(summed_wrong.split("reference.check_backprop(")[0], wrong_axis)
    report = reference.compare_backprop(
        wrong_axis["course_grads"], **RELU_SIGMOID, batch_layout="columns", reduction="mean"
    )
    assert report.problem.startswith(
        "b_2 has shape (1, 8), expected (2,) — one entry per sample: grad_Z_2 was summed over "
        "the wrong axis;"
    )
    assert "axis 1 of grad_Z_l (n_l, N) in batch_layout='columns'" in report.problem
    network = dict(activations=("sigmoid",) * 3, cost="mse", dims=(3, 4, 4, 2), seeds=(0,))
    report = reference.compare_backprop(as_written, **network, batch_layout="columns")
    assert report.rules == ("swapped_pair",)
    options = dict(targets="labels", weight_layout="in_out", reduction="mean")
    report = reference.compare_backprop(
        classifier_grads, **RELU_SOFTMAX, seeds=(0,), **options, weight_decay=namespace["REG"]
    )
    assert report.rules == ("weight_decay",)
    assert (
        "lam = 0.02, not the declared weight_decay=0.01: twice the declared, the term written "
        "lam * sum(W * W) without the 1/2" in report.message
    )


def test_the_guide_failure_example_is_what_the_checker_says():
    text = GUIDE.read_text(encoding="utf-8")
    namespace: dict = {}
    exec(re.findall(r"```python\n(.*?)```", text, re.DOTALL)[0], namespace)
    my_grads = namespace["my_grads"]

    def mean(theta, X, Y):
        return [(W / len(X), b / len(X)) for W, b in my_grads(theta, X, Y)]

    with pytest.raises(AssertionError) as info:
        reference.check_backprop(
            mean, activations=("relu", "softmax"), cost="cross_entropy", dims=(4, 5, 3)
        )
    shown = re.findall(r"```text\n(check_backprop: .*?)```", text, re.DOTALL)[0]
    assert str(info.value) == shown.rstrip("\n")
