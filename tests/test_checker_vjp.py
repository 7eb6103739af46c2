"""reference.check_vjp: hand-written backwards of single layers, NumPy and JAX."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import reference
from tests.checker.numpy_nets import softmax_rows

_RNG = np.random.default_rng(11)
X, W, B = _RNG.normal(size=(6, 4)), _RNG.normal(size=(3, 4)), _RNG.normal(size=3)
LAYER = {"x": X, "W": W, "b": B}


def affine_relu(x, W, b):
    return np.maximum(x @ W.T + b, 0)


def affine_relu_backward(g, x, W, b):
    g = g * (x @ W.T + b > 0)
    return {"x": g @ W, "W": g.T @ x, "b": g.sum(axis=0)}


def test_a_numpy_layer_is_checked_by_central_differences():
    report = reference.compare_vjp(affine_relu, affine_relu_backward, LAYER)
    assert report.passed, report.message
    assert report.oracle == "finite_differences" and report.tolerance == 1e-6
    assert set(report.errors) == {"x", "W", "b"} and max(report.errors.values()) < 1e-6
    assert json.loads(json.dumps(report.to_dict(), allow_nan=False))["oracle"] == (
        "finite_differences"
    )


def test_a_wrong_numpy_backward_names_the_input_and_the_worst_element():
    def no_mask(g, x, W, b):
        return {"x": g @ W, "W": g.T @ x, "b": g.sum(axis=0)}

    with pytest.raises(AssertionError) as info:
        reference.check_vjp(affine_relu, no_mask, LAYER, seeds=(0,))
    message = str(info.value)
    assert "check_vjp: the backward is wrong in 1 of 1 seeds" in message
    assert "Wrong: the gradient of x, W, b." in message
    (line,) = [line for line in message.splitlines() if line.strip().startswith("W ")]
    assert "WRONG" in line and "expected" in line and "got" in line


def test_a_jax_layer_is_checked_by_jax_vjp():
    def forward(x, W, b):
        return jnp.tanh(x @ W.T + b[None, :])

    def backward(g, x, W, b):
        g = g * (1 - jnp.tanh(x @ W.T + b[None, :]) ** 2)
        return g @ W, g.T @ x, g.sum(axis=0)

    report = reference.compare_vjp(forward, backward, (jnp.asarray(X), W, B))
    assert report.passed and report.oracle == "autodiff" and report.tolerance == 1e-10
    assert set(report.errors) == {"inputs[0]", "inputs[1]", "inputs[2]"}

    def sign_flipped(g, x, W, b):
        return tuple(-v for v in backward(g, x, W, b))

    report = reference.compare_vjp(forward, sign_flipped, (jnp.asarray(X), W, B), seeds=(0,))
    assert not report.passed
    assert all(r.factor == -1.0 for r in report.seeds[0].inputs)
    assert "(got = -1 x expected)" in report.message


LABELS = np.array([0, 2, 1, 1, 0, 2])


def softmax_loss(logits, labels):
    p = softmax_rows(np.asarray(logits), axis=1)
    return -np.sum(np.log(p[np.arange(len(labels)), labels]))


def softmax_loss_backward(g, logits, labels):
    d = softmax_rows(np.asarray(logits), axis=1)
    d[np.arange(len(labels)), labels] -= 1
    return g * d, None


def test_a_softmax_loss_with_integer_labels_differentiates_only_the_logits():
    logits = _RNG.normal(size=(6, 3))
    report = reference.compare_vjp(softmax_loss, softmax_loss_backward, (logits, LABELS))
    assert report.passed, report.message
    assert set(report.errors) == {"inputs[0]"}
    assert report.seeds[0].cotangent_shape == ()

    def diagonal(g, logits, labels):
        p = softmax_rows(np.asarray(logits), axis=1)
        onehot = np.eye(3)[labels]
        return g * p * (1 - p) * (-onehot / p), None  # diag(s (1 - s)), not diag(s) - s s^T

    with pytest.raises(AssertionError, match="Wrong: the gradient of inputs\\[0\\]"):
        reference.check_vjp(softmax_loss, diagonal, (logits, LABELS), seeds=(0,))


class Dense:
    """A layer object that caches its input in forward and stores dW, db in backward."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W.T + self.b

    def backward(self, g):
        self.dW, self.db = g.T @ self.x, g.sum(axis=0)
        return g @ self.W


def test_a_layer_objects_backward_is_checked_through_its_cache():
    layer = Dense(W, B)

    def forward(x, W, b):
        layer.W, layer.b = W, b
        return layer.forward(x)

    def backward(g, x, W, b):
        dx = layer.backward(g)  # reads the cache of the forward call just before
        return dx, layer.dW, layer.db

    assert reference.compare_vjp(forward, backward, (X, W, B)).passed

    def stale_cache(g, x, W, b):
        layer.x = 2 * x
        return backward(g, x, W, b)

    report = reference.compare_vjp(forward, stale_cache, (X, W, B), seeds=(0,))
    assert [r.ok for r in report.seeds[0].inputs] == [True, False, True]


def test_one_input_may_be_a_bare_array_or_a_one_tuple():
    def backward(g, x):
        return g * (x > 0)

    for inputs in (X, (X,)):
        report = reference.compare_vjp(lambda x: np.maximum(x, 0), backward, inputs, seeds=(0,))
        assert report.passed and list(report.errors) == ["inputs[0]"]


def test_the_oracle_can_be_forced():
    forward = lambda x: jnp.sin(x)  # noqa: E731
    backward = lambda g, x: g * jnp.cos(x)  # noqa: E731
    report = reference.compare_vjp(forward, backward, X, seeds=(0,), oracle="finite_differences")
    assert report.passed and report.oracle == "finite_differences"
    with pytest.raises(jax.errors.TracerArrayConversionError) as info:
        reference.compare_vjp(lambda x: np.maximum(x, 0), backward, X, oracle="autodiff")
    assert "raised by forward(*inputs) on seed 0" in "\n".join(info.value.__notes__)


def test_float32_inputs_are_cast_and_checked_with_the_float32_tolerance():
    seen = []

    def backward(g, x, W, b):
        seen.append({type(v) for v in (g, x, W, b)} | {v.dtype for v in (g, x, W, b)})
        return affine_relu_backward(g, x, W, b)

    report = reference.compare_vjp(affine_relu, backward, LAYER, seeds=(0,), dtype="float32")
    assert report.passed and report.tolerance == 1e-5
    assert seen == [{np.ndarray, np.dtype("float32")}]


MALFORMED = [
    (lambda g, x, W, b: {"x": g @ W, "W": g.T @ x}, "missing ['b']"),
    (lambda g, x, W, b: (g @ W, g.T @ x), "backward returned 2 gradients for 3 inputs"),
    (
        lambda g, x, W, b: {"x": g @ W, "W": x.T @ g, "b": g.sum(axis=0)},
        "the gradient of W has shape (4, 3), the input (3, 4) — transposed?",
    ),
    (
        lambda g, x, W, b: {"x": g @ W, "W": g.T @ x, "b": np.full(3, np.nan)},
        "the gradient of b has 3 non-finite entries",
    ),
    (lambda g, x, W, b: "grads", "backward returned str"),
]


@pytest.mark.parametrize(("backward", "says"), MALFORMED, ids=[m[1][:24] for m in MALFORMED])
def test_a_malformed_backward_result_says_what_is_wrong(backward, says):
    report = reference.compare_vjp(affine_relu, backward, LAYER, seeds=(0,))
    assert not report.passed and says in report.problem
    with pytest.raises(AssertionError, match="check_vjp: "):
        reference.check_vjp(affine_relu, backward, LAYER, seeds=(0,))


def test_an_assertion_inside_the_backward_is_a_candidate_error():
    def asserts(g, x, W, b):
        assert False, "layer invariant"  # noqa: B011

    with pytest.raises(reference.CandidateError, match="layer invariant") as info:
        reference.check_vjp(affine_relu, asserts, LAYER, seeds=(2,))
    assert "raised by backward(cotangent, *inputs) on seed 2" in str(info.value)
    assert "cotangent (6, 3) float64, x (6, 4) float64" in str(info.value)


BAD = [
    (dict(inputs=LAYER, oracle="jax"), "oracle must be one of 'auto', 'autodiff'"),
    (dict(inputs=LAYER, dtype="float16"), "dtype must be one of"),
    (dict(inputs=LAYER, seeds=()), "seeds must be a non-empty sequence"),
    (dict(inputs=(LABELS,)), "no input has a floating dtype"),
    (dict(inputs=("x",)), "input inputs[0] is a str, not an array"),
    (dict(inputs="x"), "inputs must be a tuple of arrays, a dict name -> array, or one array"),
]


@pytest.mark.parametrize(("arguments", "says"), BAD, ids=[b[1][:24] for b in BAD])
def test_bad_arguments_are_value_errors(arguments, says):
    arguments = dict(arguments)
    with pytest.raises(ValueError) as info:
        reference.check_vjp(affine_relu, affine_relu_backward, arguments.pop("inputs"), **arguments)
    assert says in str(info.value)
