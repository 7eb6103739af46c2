"""Hand-written NumPy backprops in the conventions real code uses, to check the checker with.

Each is written from the equations, independently of the checker: the notes'
batch backprop (rows, W_l as (n_l, m_{l-1}), the sum over rows) with room to
plant one mistake; a batch-first net with (in, out) weights, integer labels, a
mean loss and L2 regularization; a course's batch-last code (X of shape (n_0,
N), (n_l, 1) biases, the mean over 1/m); and a per-sample network of column
vectors that returns (nabla_b, nabla_w).
"""

from __future__ import annotations

import numpy as np

import manualgrad

#: The networks most tests share, so that their compilations are shared too.
TANH3, SQUARE = ("tanh", "tanh", "tanh"), (3, 4, 4, 4)
SOFTMAX = dict(activations=("tanh", "softmax"), cost="cross_entropy", dims=(4, 5, 3))
RELU_SOFTMAX = dict(activations=("relu", "softmax"), cost="cross_entropy", dims=(4, 5, 3))
RELU_SIGMOID = dict(activations=("relu", "sigmoid"), cost="binary_cross_entropy", dims=(3, 6, 2))


def sigma(name, z):
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "identity":
        return z
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise AssertionError(name)


def derivative(name, z):
    """sigma'(z) of a pointwise activation, elementwise."""
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "sigmoid":
        s = sigma("sigmoid", z)
        return s * (1 - s)
    if name == "identity":
        return np.ones_like(z)
    raise AssertionError(name)


def forward(theta, X, activations):
    """(Z, A), 1-based Z[l] and A[l] with A[0] = X, one row per sample."""
    A, Z = [np.asarray(X)], [None]
    for W, b, name in zip(theta.W, theta.b, activations, strict=True):
        Z.append(A[-1] @ np.asarray(W).T + np.asarray(b)[None, :])
        A.append(sigma(name, Z[-1]))
    return Z, A


def output_grad_z(name, cost, z, a, Y):
    """grad_Z_L, eq. 4.1, for the pairs the gallery uses."""
    Y = np.asarray(Y)
    if cost == "cross_entropy" and name == "softmax":
        return a * Y.sum(axis=1, keepdims=True) - Y
    assert cost == "mse"
    if name == "softmax":  # rows of (diag(s) - s s^T)(a - y)
        g = a - Y
        return a * g - a * (a * g).sum(axis=1, keepdims=True)
    return derivative(name, z) * (a - Y)


def numpy_backprop(activations, cost, *, plant=None):
    """A correct batch backprop in NumPy, or one with ``plant`` (a mistake) planted."""
    plant = plant or {}

    def grads(theta, X, Y):
        Z, A = forward(theta, X, activations)
        W = [None, *(np.asarray(w) for w in theta.W)]
        L = len(activations)
        output = plant.get("output_grad_z", output_grad_z)
        grad_Z = output(activations[-1], cost, Z[L], A[L], Y)
        grad_W, grad_b = [None] * (L + 1), [None] * (L + 1)
        for l in range(L, 0, -1):
            grad_W[l] = plant.get("grad_W", lambda G, l, Z, A: G.T @ A[l - 1])(grad_Z, l, Z, A)
            grad_b[l] = plant.get("grad_b", lambda G: G.sum(axis=0))(grad_Z)
            if l > 1:
                back = plant.get("back", lambda G, W, l: G @ W[l])
                grad_A = back(grad_Z, W, l)
                jac = plant.get("jacobian", lambda name, Z, l: derivative(name, Z[l]))
                grad_Z = grad_A * jac(activations[l - 2], Z, l - 1)
        return [(grad_W[l], grad_b[l]) for l in range(1, L + 1)]

    return grads


def scaled(candidate, factor):
    def grads(theta, X, Y):
        return [(factor * W, factor * b) for W, b in candidate(theta, X, Y)]

    return grads


def as_pairs(result):
    """A candidate's result as a list of (W_l, b_l) NumPy pairs, whichever form it has."""
    if isinstance(result, manualgrad.Params):
        result = zip(result.W, result.b, strict=True)
    return [(np.array(W), np.array(b)) for W, b in result]


def softmax_rows(S, axis):
    """Softmax along ``axis``, the maximum subtracted."""
    E = np.exp(S - S.max(axis=axis, keepdims=True))
    return E / E.sum(axis=axis, keepdims=True)


def logistic(z):
    return 1 / (1 + np.exp(-z))


# --------------------------------------------------------------------------
# Batch-first, weights stored (in, out), integer labels, mean loss + reg sum(W * W).
# --------------------------------------------------------------------------

REG = 0.05


def two_layer_net(theta, X, y, *, reg=REG, forget_reg=False, forget_relu=False):
    """relu -> softmax; loss (1/N) sum_i -log p[i, y_i] + reg * (||W1||^2 + ||W2||^2).

    theta.W are (in, out): scores = relu(X @ W1 + b1) @ W2 + b2.
    """
    W1, W2 = (np.asarray(w) for w in theta.W)
    b1, b2 = (np.asarray(v) for v in theta.b)
    X, y = np.asarray(X), np.asarray(y)
    N = len(X)
    hidden = np.maximum(0, X @ W1 + b1)
    dscores = softmax_rows(hidden @ W2 + b2, axis=1)
    dscores[np.arange(N), y] -= 1
    dscores /= N
    decay = 0.0 if forget_reg else 2 * reg
    dW2 = hidden.T @ dscores + decay * W2
    dhidden = dscores @ W2.T
    if not forget_relu:
        dhidden[hidden <= 0] = 0
    dW1 = X.T @ dhidden + decay * W1
    return [(dW1, dhidden.sum(axis=0)), (dW2, dscores.sum(axis=0))]


# --------------------------------------------------------------------------
# A course's batch-last code: X (n_0, m), Y (n_L, m), b (n_l, 1), the mean over 1/m.
# --------------------------------------------------------------------------


def batch_last(theta, X, Y, *, bias_axis=1):
    """relu -> sigmoid with binary cross-entropy, samples in columns, averaged over m."""
    (W1, W2), (b1, b2) = [[np.asarray(v) for v in part] for part in theta]
    X, Y = np.asarray(X), np.asarray(Y)
    m = X.shape[1]
    Z1 = W1 @ X + b1[:, None]
    A1 = np.maximum(Z1, 0)
    A2 = logistic(W2 @ A1 + b2[:, None])
    dZ2 = A2 - Y
    db2 = dZ2.sum(axis=bias_axis, keepdims=bias_axis == 1) / m
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    return [(dZ1 @ X.T / m, dZ1.sum(axis=1, keepdims=True) / m), (dZ2 @ A1.T / m, db2)]


# --------------------------------------------------------------------------
# One sample at a time, column vectors, (n, 1) biases, returns (nabla_b, nabla_w).
# --------------------------------------------------------------------------


def _sample_backprop(W, b, x, y, *, derivative_at_output):
    """Quadratic cost, sigmoid at every layer; x (n_0, 1), y (n_L, 1)."""
    activation, activations, zs = x, [x], []
    for w, v in zip(W, b, strict=True):
        zs.append(w @ activation + v)
        activation = logistic(zs[-1])
        activations.append(activation)

    def prime(z):
        s = logistic(logistic(z) if derivative_at_output else z)
        return s * (1 - s)

    delta = (activations[-1] - y) * prime(zs[-1])
    nabla_b, nabla_w = [None] * len(W), [None] * len(W)
    nabla_b[-1], nabla_w[-1] = delta, delta @ activations[-2].T
    for l in range(2, len(W) + 1):
        delta = (W[-l + 1].T @ delta) * prime(zs[-l])
        nabla_b[-l], nabla_w[-l] = delta, delta @ activations[-l - 1].T
    return nabla_b, nabla_w


def per_sample(theta, X, Y, *, raw=False, derivative_at_output=False):
    """The per-sample backprop summed over the columns of X (batch_layout='columns')."""
    W = [np.asarray(w) for w in theta.W]
    b = [np.asarray(v)[:, None] for v in theta.b]
    X, Y = np.asarray(X), np.asarray(Y)
    total_b = [np.zeros_like(v) for v in b]
    total_w = [np.zeros_like(w) for w in W]
    for i in range(X.shape[1]):
        nb, nw = _sample_backprop(
            W, b, X[:, [i]], Y[:, [i]], derivative_at_output=derivative_at_output
        )
        total_b = [t + g for t, g in zip(total_b, nb, strict=True)]
        total_w = [t + g for t, g in zip(total_w, nw, strict=True)]
    if raw:
        return total_b, total_w
    return manualgrad.Params(tuple(total_w), tuple(total_b))
