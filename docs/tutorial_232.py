"""The worked (2,3,2) example of seed 003, section VI, with concrete numbers.

A network with 2 inputs, a hidden layer of 3 sigmoid neurons and 2 linear
outputs, cost C = 1/2 ||y - a^[3]||^2. The script does the forward pass, the
output error delta^[3], the hidden error delta^[2] (component by component as
in section 6.4 and as the matrix product D^[2] (W^[3])^T delta^[3] with
D^[2] = diag(a^[2] (1 - a^[2]))), and the gradients of section 6.5, in NumPy,
printing every step. It then checks the gradients against
``manualgrad.backprop_combined`` (Algorithm 4) and ``reference.grad``
(jax.grad) and exits with an error if they differ.

Seed 003 numbers the layers from 1 at the input, so its W^[2], W^[3] are the
notes' (and manualgrad's) W_1, W_2: ``theta.W[0]`` is W^[2].

Run it with ``python docs/tutorial_232.py``; docs/tutorial_232.md explains it.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

import manualgrad
import reference

jax.config.update("jax_enable_x64", True)


def show(name: str, value: np.ndarray) -> None:
    """Prints a scalar, vector or matrix with 6 decimals, one matrix row per line."""
    value = np.asarray(value)
    if value.ndim == 0:
        print(f"{name} = {value:+.6f}")
    elif value.ndim == 1:
        print(f"{name} = [" + ", ".join(f"{v:+.6f}" for v in value) + "]")
    else:
        rows = ["[" + ", ".join(f"{v:+.6f}" for v in row) + "]" for row in value]
        print(f"{name} = [" + (",\n" + " " * (len(name) + 4)).join(rows) + "]")


def sigmoid(t: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-t))


# 6.1: the parameters and the training point.
W2 = np.array([[0.1, -0.2], [0.4, 0.3], [-0.5, 0.6]])  # W^[2], 3 x 2
b2 = np.array([0.1, -0.2, 0.3])  # b^[2]
W3 = np.array([[0.7, -0.3, 0.5], [-0.4, 0.8, 0.2]])  # W^[3], 2 x 3
b3 = np.array([0.05, -0.05])  # b^[3]
x = np.array([1.0, 2.0])  # a^[1] = x
y = np.array([0.2, 0.9])


def main() -> int:
    print("6.2 Forward pass")
    z2 = W2 @ x + b2
    show("z[2] = W[2] x + b[2]", z2)
    a2 = sigmoid(z2)
    show("a[2] = sigmoid(z[2])", a2)
    z3 = W3 @ a2 + b3
    show("z[3] = W[3] a[2] + b[3]", z3)
    a3 = z3  # linear output: no activation
    show("a[3] = z[3]", a3)
    C = 0.5 * np.sum((y - a3) ** 2)
    show("C = 1/2 ||y - a[3]||^2", C)

    print("\n6.4 Step 1: output layer error")
    delta3 = a3 - y  # D^[3] = I_2 for a linear output
    show("delta[3] = a[3] - y", delta3)

    print("\n6.4 Step 2: hidden layer error")
    sigma_prime = a2 * (1 - a2)  # 6.6: sigma'(z^[2]) = a^[2] (1 - a^[2])
    D2 = np.diag(sigma_prime)
    show("D[2] = diag(a[2] (1 - a[2]))", D2)
    # Component by component, as the explicit chain rule of 6.4 writes delta_1^[2]:
    # delta_j^[2] = sigma'(z_j^[2]) [w_1j^[3] delta_1^[3] + w_2j^[3] delta_2^[3]].
    delta2_by_hand = np.array(
        [sigma_prime[j] * (W3[0, j] * delta3[0] + W3[1, j] * delta3[1]) for j in range(3)]
    )
    show("delta[2] by components", delta2_by_hand)
    delta2 = D2 @ W3.T @ delta3
    show("delta[2] = D[2] W[3]^T delta[3]", delta2)

    print("\n6.5 Parameter gradients")
    grad_W3 = np.outer(delta3, a2)
    show("dC/dW[3] = delta[3] a[2]^T", grad_W3)
    show("dC/db[3] = delta[3]", delta3)
    grad_W2 = np.outer(delta2, x)
    show("dC/dW[2] = delta[2] x^T", grad_W2)
    show("dC/db[2] = delta[2]", delta2)

    print("\nChecks")
    by_hand = manualgrad.Params((grad_W2, grad_W3), (delta2, delta3))
    theta = manualgrad.Params(
        (jnp.asarray(W2), jnp.asarray(W3)), (jnp.asarray(b2), jnp.asarray(b3))
    )
    activations = ("sigmoid", "identity")
    tol = reference.tolerance(jnp.float64)
    failures = 0
    checks = [
        ("delta[2] by components = delta[2] by matrices", delta2_by_hand, delta2),
        (
            "gradients = manualgrad.backprop_combined (Algorithm 4)",
            by_hand,
            manualgrad.backprop_combined(theta, x, y, activations, "mse"),
        ),
        (
            "gradients = reference.grad (jax.grad)",
            by_hand,
            reference.grad(theta, x, y, activations, "mse"),
        ),
    ]
    for what, got, expected in checks:
        ok = reference.relative_error(got, expected) < tol
        failures += not ok
        print(f"{what}: {'ok' if ok else 'MISMATCH'} (relative tolerance {tol:g})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
