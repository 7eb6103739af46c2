"""Each correction of docs/ERRATA.md: the literal line fails, the corrected one is right.

The errata of both families in docs/ERRATA.md are here: E1-E12 in the backpropagation
notes (seed 004) and L1-L10 in the lectures (seeds 000-003), one test each (E4 and E5
share one; E9 concerns comments only and has none). The tests are grouped by subject,
roughly in the order backpropagation meets them: the forward pass; the Jacobians of the
activations and their chain; the cost gradient at the output; the backward recursion;
the weight and bias gradients; the batch form and the Kronecker operators; gradient decay
(Theorem 16). These are the subjects of the "By subject" table of docs/ERRATA.md, and
each test's name starts with its erratum id.

Each test computes what the text says when read literally and shows that it fails (it
cannot be evaluated, has the wrong shape, or differs from jax.grad / jax.jacfwd), while
the corrected reading agrees with JAX.

The helpers, shared by all sections, come first. For the notes: transcriptions of
Algorithms 1, 2 and 4, written from the pseudo-code with jax.jacfwd Jacobians
(``reference.jacobian``), independent of manualgrad's, that take a switch putting a typo
back. The corrected transcription is checked against jax.grad on the same case (for E7
and E8, in the tests of E4-E5 and E2), so a failure of the literal one is the typo's
doing and not the transcription's. For the lectures: the small networks that their
formulas are evaluated on.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad
import reference
from manualgrad import scalar_graph as sg
from tests._cases import random_params

DTYPE = "float64"
TOL = reference.tolerance(DTYPE)

# Square layers, so that a literal line that mixes up layers still runs.
SQUARE = ((4, 4, 4, 4), ("tanh", "relu", "softmax"))
NON_SQUARE = ((3, 5, 4, 2), ("tanh", "relu", "softmax"))


# --- Helpers: the notes' algorithms, transcribed (E#) ---------------------------------------


def sample(dims, activations, *, seed=0, rows=None):
    """theta, x, y by reference.draw_case (mse targets); one sample when rows is None."""
    theta, X, Y = reference.draw_case(
        seed, activations=activations, cost="mse", dims=dims, batch_size=rows or 1, dtype=DTYPE
    )
    return (theta, X[0], Y[0]) if rows is None else (theta, X, Y)


def sigma_of(activations):
    return [manualgrad.Identity(), *map(manualgrad.get_activation, activations)]


def algorithm4(theta, x, y, activations, *, literal=()):
    """Algorithm 4 with mse. literal: 'E1' (Jacobian of sigma_L), 'E3' (W_{l-1})."""
    W, b, sigma, L = [None, *theta.W], [None, *theta.b], sigma_of(activations), len(theta.W)
    a, z, jac = [x], [None], [None]
    for l in range(1, L + 1):
        z.append(W[l] @ a[l - 1] + b[l])
        a.append(sigma[l](z[l]))
        jac.append(reference.jacobian(sigma[L] if "E1" in literal else sigma[l], z[l]))
    grad_a, grad_W, grad_b = {L: a[L] - y}, {}, {}
    for l in range(L, 0, -1):
        grad_z = jac[l].T @ grad_a[l]
        grad_a[l - 1] = (W[l - 1] if "E3" in literal else W[l]).T @ grad_z
        grad_W[l] = jnp.outer(grad_z, a[l - 1])
        grad_b[l] = grad_z
    return manualgrad.Params(
        tuple(grad_W[l] for l in range(1, L + 1)), tuple(grad_b[l] for l in range(1, L + 1))
    )


def algorithm1(theta, x, y, activations, *, literal=()):
    """Algorithm 1 with mse. literal: 'E2' (sigma_L(x)), 'E8' (no biases)."""
    W, b, sigma, L = [None, *theta.W], [None, *theta.b], sigma_of(activations), len(theta.W)
    z, jac = [x], [reference.jacobian(sigma[0], x)]
    for l in range(1, L + 1):
        bias = 0 if "E8" in literal else b[l]
        z.append(W[l] @ sigma[l - 1](z[l - 1]) + bias)
        jac.append(reference.jacobian(sigma[l], z[l]))
    y_hat = sigma[L](x) if "E2" in literal else sigma[L](z[L])
    grad_z = {L: jac[L].T @ (y_hat - y)}
    grad_W, grad_b = {}, {}
    for l in range(L, 0, -1):
        grad_z[l - 1] = jac[l - 1].T @ W[l].T @ grad_z[l]
        grad_W[l] = jnp.outer(grad_z[l], sigma[l - 1](z[l - 1]))
        grad_b[l] = grad_z[l]
    return manualgrad.Params(
        tuple(grad_W[l] for l in range(1, L + 1)), tuple(grad_b[l] for l in range(1, L + 1))
    )


def algorithm2(theta, X, Y, activations, *, literal=()):
    """Algorithm 2 with mse.

    literal: 'E5' (only Jac_{i,L} exists), 'E6' (one target y for all rows),
    'E7' (sigma_l instead of sigma_{l-1} in grad_W).
    """
    W, b, sigma, L = [None, *theta.W], [None, *theta.b], sigma_of(activations), len(theta.W)
    N = X.shape[0]
    Z = [X]
    for l in range(1, L + 1):
        Z.append(sigma[l - 1](Z[l - 1]) @ W[l].T + b[l][None, :])

    def jac(l, i):
        return reference.jacobian(sigma[l], Z[l][i])

    target = jnp.broadcast_to(Y[0], Y.shape) if "E6" in literal else Y
    G = sigma[L](Z[L]) - target
    grad_Z = {L: jnp.stack([G[i] @ jac(L, i) for i in range(N)])}
    grad_W, grad_b = {}, {}
    for l in range(L, 0, -1):
        jac_prev = (lambda i: jac(L, i)) if "E5" in literal else (lambda i, l=l: jac(l - 1, i))
        grad_Z[l - 1] = jnp.stack([grad_Z[l][i] @ W[l] @ jac_prev(i) for i in range(N)])
        applied = sigma[l] if "E7" in literal else sigma[l - 1]
        grad_W[l] = grad_Z[l].T @ applied(Z[l - 1])
        grad_b[l] = grad_Z[l].T @ jnp.ones(N, DTYPE)
    return manualgrad.Params(
        tuple(grad_W[l] for l in range(1, L + 1)), tuple(grad_b[l] for l in range(1, L + 1))
    )


def differs(got, expected) -> bool:
    return reference.relative_error(got, expected) > 1e-3


# --- Helpers: the lectures' networks (L#) --------------------------------------------------


def _sigmoid_network(dims, seed, *, bias=True):
    """A sigmoid MLP (identity output), one sample, and its target, in float64."""
    activations = ("sigmoid",) * (len(dims) - 2) + ("identity",)
    rng = np.random.default_rng(seed)
    theta = random_params(rng, dims, bias_scale=0.5 if bias else 0.0)
    x = jnp.asarray(rng.normal(size=dims[0]))
    y = jnp.asarray(rng.normal(size=dims[-1]))
    return theta, x, y, activations


def _forward(theta, x, activations):
    """([z_1..z_L], [a_0..a_L]) in NumPy."""
    phi = {"sigmoid": lambda v: 1 / (1 + np.exp(-v)), "identity": lambda v: v}
    zs, as_ = [], [np.asarray(x)]
    for W, b, name in zip(theta.W, theta.b, activations, strict=True):
        zs.append(np.asarray(W) @ as_[-1] + np.asarray(b))
        as_.append(phi[name](zs[-1]))
    return zs, as_


def _midpoint_sigmoid_network(scale, width, depth):
    """W_l = scale * Q_l (orthogonal) and biases that keep every z_l = 0 for x = 0, so
    that sigmoid'(z) = 1/4 everywhere and ||delta_l|| = (scale / 4) ||delta_{l+1}||."""
    rng = np.random.default_rng(0)
    W, b = [], []
    for l in range(depth):
        Q, _ = np.linalg.qr(rng.normal(size=(width, width)))
        W.append(scale * Q)
        b.append(-(scale * Q) @ np.full(width, 0.5) if l > 0 else np.zeros(width))
    theta = manualgrad.Params(tuple(jnp.asarray(w) for w in W), tuple(jnp.asarray(v) for v in b))
    return theta, jnp.zeros(width, DTYPE), jnp.asarray(rng.uniform(size=width))


def _skip_dag():
    """Lecture 27's node graph: x0, x1 -> h1 -> h2 -> o, with skip arcs x0 -> h2 and
    h1 -> o; tanh neurons."""
    weights = {
        ("x0", "h1"): 0.9,
        ("x1", "h1"): -0.6,
        ("h1", "h2"): 1.3,
        ("x0", "h2"): 0.4,
        ("h2", "o"): -1.1,
        ("h1", "o"): 0.7,
        ("1", "h2"): 0.2,
    }
    graph = sg.ScalarGraph(("x0", "x1"), dict.fromkeys(["h1", "h2", "o"], "tanh"), weights, ("o",))
    return graph, weights


def _dag_output_by_jax(weights, x0, x1):
    h1 = jnp.tanh(weights[("x0", "h1")] * x0 + weights[("x1", "h1")] * x1)
    h2 = jnp.tanh(weights[("h1", "h2")] * h1 + weights[("x0", "h2")] * x0 + weights[("1", "h2")])
    return jnp.tanh(weights[("h2", "o")] * h2 + weights[("h1", "o")] * h1)


def _slides_network(widths, seed):
    """The Jacobian-chain slides' z^(j) = A(w^(j)T z^(j-1)), no biases: w^(j) of shape
    (H_{j-1}, H_j), as the slides write them; tanh layers."""
    rng = np.random.default_rng(seed)
    return [
        jnp.asarray(rng.normal(size=(m, n)) / np.sqrt(m)) for m, n in itertools.pairwise(widths)
    ]


def _layer(w):
    return lambda z: jnp.tanh(w.T @ z)


def _forward_slides(w, w1, x):
    z = _layer(w1)(x)
    for wj in w[1:]:
        z = _layer(wj)(z)
    return z


# --- The forward pass: E8, L1 --------------------------------------------------------------
# What a layer or node computes from its inputs: the biases, the index set of the sum.


def test_E8_forward_pass_without_biases_is_wrong():
    theta, x, y = sample(*NON_SQUARE)
    expected = reference.grad(theta, x, y, NON_SQUARE[1], "mse")
    assert differs(algorithm1(theta, x, y, NON_SQUARE[1], literal=("E8",)), expected)


def test_L1_node_value_sums_over_the_in_arcs_of_j_not_over_i_in_A_i():
    graph, weights = _skip_dag()
    x = np.array([0.8, -1.5])
    # Literally, y(j) = Phi(sum_{i in A(i)} w_ij y(i)): A(i) holds the heads of i's
    # out-arcs, and in a DAG no node is its own head, so the sum is empty for every j.
    nodes = ["1", "x0", "x1", *graph.order]
    assert not any(i in graph.out_arcs(i) for i in nodes)
    literal = {j: np.tanh(0.0) for j in graph.order}  # Phi(empty sum) = Phi(0)
    expected = _dag_output_by_jax(weights, *x)
    assert literal["o"] != pytest.approx(float(expected))  # and it ignores x altogether
    # Corrected: the sum over AI(j), the tails of the arcs entering j.
    assert graph.in_arcs("h2") == ["h1", "x0", "1"]
    fwd = sg.forward(graph, x)
    np.testing.assert_allclose(fwd.y["o"], expected, rtol=1e-14)


# --- The Jacobians of the activations and their chain: E1, E10, E12, L2, L7, L8 ------------
# Which activation's derivative, at which point, of which shape, and how they chain.


def test_E1_jacobian_of_sigma_L_at_every_layer_gives_wrong_gradient():
    theta, x, y = sample(*SQUARE)
    expected = reference.grad(theta, x, y, SQUARE[1], "mse")
    assert reference.relative_error(algorithm4(theta, x, y, SQUARE[1]), expected) < TOL
    assert differs(algorithm4(theta, x, y, SQUARE[1], literal=("E1",)), expected)


def test_E10_jacobian_of_layer_l_is_n_l_by_n_l_not_n_L_by_n_L():
    theta, x, _ = sample(*NON_SQUARE)
    z1 = theta.W[0] @ x + theta.b[0]
    assert manualgrad.get_activation("tanh").jacobian(z1).shape == (5, 5)
    with pytest.raises((TypeError, ValueError)):
        # An n_L x n_L matrix (n_L = 2) cannot act on grad_a_1 of width 5.
        jnp.eye(2, dtype=DTYPE).T @ (theta.W[1].T @ jnp.ones(4, DTYPE))


def test_E12_max_pool_jacobian_is_a_row_not_a_column():
    z = jnp.array([0.3, 2.0, -1.0], DTYPE)
    jac = reference.jacobian("max_pool", z)
    assert jac.shape == (1, 3)
    assert manualgrad.MaxPool().jacobian(z).shape == (1, 3)
    grad_a = jnp.array([1.5], DTYPE)
    assert (jac.T @ grad_a).shape == (3,)
    column = jac.T  # The hint's "column vector", (n, 1), taken as Jac ...
    with pytest.raises((TypeError, ValueError)):
        column.T @ grad_a  # ... makes eq. 3.1's Jac^T @ grad_a ill-shaped.


def test_L2_the_gate_is_phi_prime_at_the_preactivation_s_j():
    graph, weights = _skip_dag()
    x = np.array([0.8, -1.5])
    target = 0.3
    result = sg.backprop(graph, x, np.array([target]), "mse")
    fwd = result.forward
    tanh_prime = lambda v: 1 - np.tanh(v) ** 2  # noqa: E731

    def loss(w):
        return 0.5 * (_dag_output_by_jax(w, *x) - target) ** 2

    expected = jax.grad(loss)({k: jnp.asarray(v, DTYPE) for k, v in weights.items()})
    for (i, j), g in expected.items():
        S_plus = result.S[sg.plus(j)]  # S(j+, t) = dJ/dy(j)
        at_s = S_plus * tanh_prime(fwd.s[j]) * fwd.y[i]  # Phi'(s(j)): matches
        at_y = S_plus * tanh_prime(fwd.y[j]) * fwd.y[i]  # Phi' at the output y(j)
        np.testing.assert_allclose(at_s, g, rtol=1e-12)
        assert abs(at_y - g) > 1e-6 * abs(g)


def test_L7_the_chain_steps_from_z_K_minus_2_to_z_K_minus_3():
    # K = 5 layers and h = 1: here the display's "..." stands for no factor at all.
    widths = (3, 4, 5, 6, 7, 2)  # H_0 = input, H_1..H_4, output
    w = _slides_network(widths, seed=0)
    x = jnp.asarray(np.random.default_rng(1).normal(size=3))
    zs = [np.asarray(x)]
    for wj in w:
        zs.append(np.tanh(np.asarray(wj).T @ zs[-1]))
    dL_dy = zs[-1]  # L = 1/2 ||y*||^2, so dL/dy* = y*

    def jac(j):  # dz^(j)/dz^(j-1) = diag(A'(w^(j)T z^(j-1))) w^(j)T, the slides' formula
        return np.diag(1 - zs[j] ** 2) @ np.asarray(w[j - 1]).T

    def chain(factors):  # dL/dy* ... dz^(1)/dw^(1), with dz^(1)/dw^(1)_{ab} = A'_b x_a
        row = dL_dy
        for factor in factors:
            row = row @ factor
        return np.outer(np.asarray(x), row * (1 - zs[1] ** 2))

    @jax.jit
    def expected(w1):
        return jax.grad(lambda w1: 0.5 * jnp.sum(_forward_slides(w, w1, x) ** 2))(w1)

    # Corrected: dy*/dz^(4) dz^(4)/dz^(3) dz^(3)/dz^(2) dz^(2)/dz^(1) dz^(1)/dw^(1).
    np.testing.assert_allclose(chain([jac(5), jac(4), jac(3), jac(2)]), expected(w[0]), rtol=1e-10)
    # Literally the third factor is dz^(3)/dz^(3) = I: the step to z^(2) is lost.
    with pytest.raises(ValueError, match="mismatch"):
        chain([jac(5), jac(4), np.eye(widths[3]), jac(2)])


def test_L8_the_displayed_jacobian_has_numerators_in_layer_j_plus_1():
    w = _slides_network((4, 3), seed=2)[0]  # w^(j+1): H_j = 4 by H_{j+1} = 3
    z_j = jnp.asarray(np.random.default_rng(3).normal(size=4))
    expected = jax.jacfwd(_layer(w))(z_j)  # dz^(j+1)/dz^(j), H_{j+1} x H_j
    assert expected.shape == (3, 4)
    # Literally the first rows are dz_i^(j)/dz_k^(j): rows of the identity.
    literal_rows = np.eye(4)[:2]
    assert not np.allclose(literal_rows, expected[:2])
    # Corrected, and as the next slide says: diag(A'(w^T z^(j))) w^T.
    diag = jnp.diag(1 - jnp.tanh(w.T @ z_j) ** 2)
    np.testing.assert_allclose(diag @ w.T, expected, rtol=1e-12)


# --- The cost gradient at the output: E2, E6 -----------------------------------------------
# The gradient of the cost, taken at the network's output and against the right targets.


def test_E2_sigma_L_of_x_is_wrong_shape_or_wrong_gradient():
    theta, x, y = sample(*NON_SQUARE)
    expected = reference.grad(theta, x, y, NON_SQUARE[1], "mse")
    assert reference.relative_error(algorithm1(theta, x, y, NON_SQUARE[1]), expected) < TOL
    with pytest.raises((TypeError, ValueError)):
        algorithm1(theta, x, y, NON_SQUARE[1], literal=("E2",))
    theta, x, y = sample(*SQUARE)
    expected = reference.grad(theta, x, y, SQUARE[1], "mse")
    assert differs(algorithm1(theta, x, y, SQUARE[1], literal=("E2",)), expected)


def test_E6_single_sample_target_in_batch_gradient_is_wrong():
    theta, X, Y = sample(*NON_SQUARE, rows=3)
    expected = reference.grad(theta, X, Y, NON_SQUARE[1], "mse")
    assert reference.relative_error(algorithm2(theta, X, Y, NON_SQUARE[1]), expected) < TOL
    assert differs(algorithm2(theta, X, Y, NON_SQUARE[1], literal=("E6",)), expected)


# --- The backward recursion: E3, E9, L3 ----------------------------------------------------
# How grad_a_{l-1} follows from grad_z_l, and where the recursion starts. E9 (the
# algorithms' comments) has no test here: tests/test_sensitivities.py checks each
# grad_a_l and grad_z_l.


def test_E3_w_l_minus_1_in_grad_a_has_no_layer_0_and_wrong_shapes():
    for dims, activations in (NON_SQUARE, SQUARE):
        theta, x, y = sample(dims, activations)
        expected = reference.grad(theta, x, y, activations, "mse")
        assert reference.relative_error(algorithm4(theta, x, y, activations), expected) < TOL
        # W_0 does not exist, and W_{l-1} does not fit grad_z_l unless square.
        with pytest.raises((TypeError, ValueError, AttributeError)):
            algorithm4(theta, x, y, activations, literal=("E3",))


def test_L3_relation_2_holds_for_l_below_N_and_is_the_initialization_at_N():
    theta, x, y, activations = _sigmoid_network((3, 4, 4, 2), seed=0)
    L = len(theta.W)
    sens = reference.sensitivities(theta, x, y, activations, "mse")
    # (2) delta^{+(l)} = W^{(l+1)T} delta^{-(l+1)} for l = 1..N-1 ...
    for l in range(1, L):
        np.testing.assert_allclose(
            sens.grad_a[l], theta.W[l].T @ sens.grad_z[l], rtol=1e-10, atol=1e-15
        )
    # ... but at l = N it would need W^{(N+1)}, which a network of N layers lacks;
    with pytest.raises(IndexError):
        theta.W[L]  # W^{(N+1)}
    # there delta^{+(N)} is the initialization grad_{y^(N)} J (mse: y_hat - y) instead.
    _, outputs = _forward(theta, x, activations)
    np.testing.assert_allclose(sens.grad_a[L], outputs[-1] - y, rtol=1e-12)


# --- The weight and bias gradients: E7, L4, L9, L10 ----------------------------------------
# grad_W_l = grad_z_l a_{l-1}^T (an outer product, indexed W_jk) and dz_l/db_l = I.


def test_E7_weight_gradient_needs_sigma_l_minus_1():
    theta, X, Y = sample(*SQUARE, rows=3)
    expected = reference.grad(theta, X, Y, SQUARE[1], "mse")
    assert differs(algorithm2(theta, X, Y, SQUARE[1], literal=("E7",)), expected)


def test_L4_the_assembled_weight_gradient_is_the_outer_product_not_one_row():
    theta, x, y, activations = _sigmoid_network((2, 3, 2), seed=1)
    expected = reference.grad(theta, x, y, activations, "mse").W[0]  # dJ/dW^(1)
    delta = reference.sensitivities(theta, x, y, activations, "mse").grad_z[0]
    y_prev = np.asarray(x)  # y^(0) = x
    j = 2
    literal = delta[j] * y_prev  # delta_j^{-(1)} y^{(0)T}: one row
    assert literal.shape != expected.shape
    np.testing.assert_allclose(literal, expected[j], rtol=1e-10)  # only row j of it
    np.testing.assert_allclose(np.outer(delta, y_prev), expected, rtol=1e-10)


def test_L9_the_weight_gradient_index_is_W_jk_with_delta_j():
    theta, x, y, activations = _sigmoid_network((2, 3, 2), seed=4)
    grad_W = reference.grad(theta, x, y, activations, "mse").W[1]  # dC/dW^[3]
    delta = reference.sensitivities(theta, x, y, activations, "mse").grad_z[1]  # delta^[3]
    _, outputs = _forward(theta, x, activations)
    a_prev = outputs[1]  # a^[2]
    i, j, k = 0, 1, 2
    # Literally dC/dW_ik = delta_j a_k with j free: wrong unless j = i.
    assert delta[j] * a_prev[k] != pytest.approx(float(grad_W[i, k]))
    np.testing.assert_allclose(grad_W, np.outer(delta, a_prev), rtol=1e-10)


def test_L10_the_bias_derivative_is_one_only_for_its_own_neuron():
    theta, x, _, _ = _sigmoid_network((2, 3, 2), seed=5)
    W, b = theta.W[0], theta.b[0]
    dz_db = jax.jacfwd(lambda b: W @ x + b)(b)  # [j, i] = dz_j / db_i
    i, j = 0, 2
    assert dz_db[j, i] == 0  # literally "dz_j/db_i = 1": fails for i != j
    np.testing.assert_array_equal(dz_db, np.eye(3))  # dz_j/db_j = 1, dz_s/db_j = 0


# --- The batch form and the Kronecker operators: E4, E5, E11 -------------------------------
# Algorithm 2's per-row Jacobians, and the product that section 4.3 writes as a Kronecker one.


def test_E4_E5_algorithm_2_with_only_jac_i_L_is_wrong():
    theta, X, Y = sample(*SQUARE, rows=3)
    expected = reference.grad(theta, X, Y, SQUARE[1], "mse")
    assert reference.relative_error(algorithm2(theta, X, Y, SQUARE[1]), expected) < TOL
    assert differs(algorithm2(theta, X, Y, SQUARE[1], literal=("E5",)), expected)
    theta, X, Y = sample(*NON_SQUARE, rows=3)
    with pytest.raises((TypeError, ValueError)):
        algorithm2(theta, X, Y, NON_SQUARE[1], literal=("E5",))


def test_E11_kronecker_product_in_section_4_3_is_a_matrix_product():
    grad_Z = jnp.ones((3, 4), DTYPE)  # N = 3, n_l = 4
    W = jnp.ones((4, 5), DTYPE)  # n_l x n_{l-1}
    assert (grad_Z @ W).shape == (3, 5)
    assert jnp.kron(grad_Z, W).shape != (3, 5)


# --- Gradient decay (Theorem 16): L5, L6 ---------------------------------------------------
# What decays (the sensitivity delta), and by which factor ((sigma r)^(N-l)).


def test_L5_what_decays_is_the_sensitivity_delta_not_the_preactivation_s():
    activations = ("sigmoid",) * 6
    dims = (6,) * 7
    rng = np.random.default_rng(2)
    theta = random_params(rng, dims, weight_scale=0.5)
    x = jnp.asarray(rng.normal(size=6))
    y = jnp.asarray(rng.uniform(size=6))
    zs, _ = _forward(theta, x, activations)
    sens = reference.sensitivities(theta, x, y, activations, "mse")
    s_norms = np.array([np.linalg.norm(z) for z in zs])
    delta_norms = np.array([np.linalg.norm(g) for g in sens.grad_z])
    assert delta_norms[0] < 1e-3 * delta_norms[-1]  # delta^{-(l)} decays towards l = 1
    assert s_norms[0] > 0.1 * s_norms[-1]  # s^{(l)} does not


def test_L6_the_sigmoid_decay_factor_is_sigma_over_4_not_one_quarter():
    depth = 5
    activations = ("sigmoid",) * depth
    theta, x, y = _midpoint_sigmoid_network(scale=8.0, width=4, depth=depth)
    sens = reference.sensitivities(theta, x, y, activations, "mse")
    norms = np.array([np.linalg.norm(g) for g in sens.grad_z])
    exponent = np.arange(depth - 1, -1, -1)  # N - l
    sigma = max(np.linalg.norm(np.asarray(W), 2) for W in theta.W)
    literal = 0.25**exponent * norms[-1]
    assert np.all(norms[:-1] > literal[:-1])  # (1/4)^(N-l) fails: these grow as 2^(N-l)
    np.testing.assert_allclose(norms, (sigma / 4) ** exponent * norms[-1], rtol=1e-10)
