"""Lecture 27's scalar computational graph against the vector algorithms and jax.grad."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad
import reference
from manualgrad import Params
from manualgrad import scalar_graph as sg
from tests._cases import random_params

F64 = jnp.float64

#: Every pointwise activation by name (the scalar view needs phi of one number).
POINTWISE = sorted(
    name for name, cls in manualgrad.ACTIVATIONS.items() if issubclass(cls, manualgrad.Pointwise)
)

#: jnp formulas for the separately written DAG evaluation, by name.
PHI = {
    "identity": lambda s: s,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "arctan": jnp.arctan,
    "softplus": jax.nn.softplus,
    "elu": jax.nn.elu,
    "silu": jax.nn.silu,
}


def _mlp_case(dims, activations, seed, dtype=F64, rows=None):
    """theta, x, y for a layered network; y in (0, 1) suits every cost."""
    rng = np.random.default_rng(seed)
    theta = random_params(rng, dims, activations, dtype=dtype)
    lead = () if rows is None else (rows,)
    x = jnp.asarray(rng.normal(size=(*lead, dims[0])), dtype)
    y = jnp.asarray(rng.uniform(0.1, 0.9, size=(*lead, dims[-1])), dtype)
    return theta, x, y


# --- Lemma 14 on a generic DAG -----------------------------------------------------------


def _random_dag(rng, num_nodes, density):
    """Arcs (i, j) with i < j and random edge derivatives z(i, j)."""
    return {
        (i, j): rng.normal()
        for i, j in itertools.combinations(range(num_nodes), 2)
        if rng.random() < density
    }


def _sum_over_paths(edges, source, target):
    """dy(t)/dy(i) as the sum over directed paths of the product of edge derivatives."""
    if source == target:
        return 1.0
    return sum(z * _sum_over_paths(edges, j, target) for (i, j), z in edges.items() if i == source)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sensitivity_recursion_equals_the_sum_over_all_paths(seed):
    rng = np.random.default_rng(seed)
    edges = _random_dag(rng, num_nodes=7, density=0.6)
    target = 6
    edges[(5, target)] = rng.normal()  # t is on at least one arc
    S = sg.sensitivity_recursion(edges, target)
    for node in S:
        np.testing.assert_allclose(S[node], _sum_over_paths(edges, node, target), rtol=1e-12)
    assert S[target] == 1.0


def test_sensitivity_recursion_of_a_product_node_is_the_chain_rule():
    # y(c) = y(a) * y(b) with y(b) = y(a)^2: dy(c)/dy(a) = y(b) + y(a) * 2 y(a) = 3 y(a)^2.
    a = 1.7
    edges = {("a", "b"): 2 * a, ("a", "c"): a**2, ("b", "c"): a}
    S = sg.sensitivity_recursion(edges, "c")
    assert S["a"] == pytest.approx(3 * a**2, rel=1e-15)
    assert S["b"] == pytest.approx(a, rel=1e-15)


def test_sensitivity_recursion_rejects_a_cycle():
    with pytest.raises(ValueError, match="cycle"):
        sg.sensitivity_recursion({("a", "b"): 1.0, ("b", "a"): 1.0, ("b", "t"): 1.0}, "t")


# --- Layered networks: the scalar graph against the vector algorithms -------------------

#: Every pointwise activation appears at least once, in a hidden and an output position.
MLP_CASES = [
    pytest.param(dims, acts, cost, id=f"{'-'.join(acts)}-{cost}")
    for dims, acts, cost in [
        ((3, 4, 3, 2), ("identity", "sigmoid", "tanh"), "mse"),
        ((3, 4, 3, 2), ("relu", "arctan", "hard_tanh"), "mse"),
        ((3, 4, 3, 2), ("leaky_relu", "elu", "softplus"), "cross_entropy"),
        ((3, 4, 3, 2), ("silu", "gelu", "sigmoid"), "binary_cross_entropy"),
        ((2, 3, 1, 2), ("softplus", "arctan", "gelu"), "huber"),
        ((3, 2, 3, 2), ("tanh", "silu", "relu"), "mse"),
        ((2, 3, 2), ("sigmoid", "silu"), "mse"),
        ((2, 3, 2), ("hard_tanh", "elu"), "mse"),
        ((2, 3, 2), ("gelu", "leaky_relu"), "mse"),
        ((2, 3, 2), ("elu", "arctan"), "mse"),
    ]
]
assert {a for case in MLP_CASES for a in case.values[1][:-1]} == set(POINTWISE)
assert {case.values[1][-1] for case in MLP_CASES} >= set(POINTWISE) - {"identity"}


@pytest.mark.parametrize(("dims", "activations", "cost"), MLP_CASES)
def test_scalar_graph_gradient_equals_jax_grad(dims, activations, cost):
    theta, x, y = _mlp_case(dims, activations, seed=len(dims))
    got = sg.backprop_params(theta, x, y, activations, cost)
    expected = reference.grad(theta, x, y, activations, cost)
    assert reference.relative_error(got, expected) < reference.tolerance(F64)


@pytest.mark.parametrize("number", sorted(manualgrad.ALGORITHMS))
def test_scalar_graph_gradient_equals_each_algorithm(number):
    algorithm = manualgrad.ALGORITHMS[number]
    activations = ("tanh", "sigmoid", "identity")
    theta, x, y = _mlp_case((3, 4, 3, 2), activations, seed=5, rows=3 if algorithm.batch else None)
    got = sg.backprop_params(theta, x, y, activations, "mse")
    expected = jax.jit(algorithm, static_argnums=(3, 4))(theta, x, y, activations, "mse")
    assert reference.relative_error(got, expected) < reference.tolerance(F64)


@pytest.mark.parametrize("formulation", ["decoupled", "coupled"])
def test_float32_graph_computes_in_float32(formulation):
    activations = ("sigmoid", "tanh")
    theta, x, y = _mlp_case((3, 4, 2), activations, seed=7, dtype=jnp.float32)
    got = sg.backprop_params(theta, x, y, activations, "mse", formulation=formulation)
    assert all(g.dtype == jnp.float32 for g in jax.tree_util.tree_leaves(got))
    expected = reference.grad(theta, x, y, activations, "mse")
    assert reference.relative_error(got, expected) < reference.tolerance(jnp.float32)


def test_decoupled_sensitivities_are_the_vector_sensitivities():
    """S(j-, J) = grad_{z_l} L and S(j+, J) = grad_{a_l} L, coordinate by coordinate."""
    activations = ("tanh", "softplus", "sigmoid")
    theta, x, y = _mlp_case((2, 3, 4, 2), activations, seed=11)
    graph = sg.from_params(theta, activations)
    S = sg.backprop(graph, x, y, "mse").S
    sens = reference.sensitivities(theta, x, y, activations, "mse")
    for l in range(1, len(theta.W) + 1):
        grad_z = [S[sg.minus((l, k))] for k in range(theta.W[l - 1].shape[0])]
        grad_a = [S[sg.plus((l, k))] for k in range(theta.W[l - 1].shape[0])]
        np.testing.assert_allclose(grad_z, sens.grad_z[l - 1], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(grad_a, sens.grad_a[l], rtol=1e-10, atol=1e-14)
    inputs = [S[(0, k)] for k in range(theta.W[0].shape[1])]
    np.testing.assert_allclose(inputs, sens.grad_a[0], rtol=1e-10, atol=1e-14)


def test_coupled_sensitivity_is_the_activation_subnode_sensitivity():
    """Eq. (2) on the undivided graph gives S(j, t) = S(j+, t), and S(j-) = S(j+) Phi'(s(j))."""
    activations = ("arctan", "tanh")
    theta, x, y = _mlp_case((3, 3, 2), activations, seed=13)
    graph = sg.from_params(theta, activations)
    decoupled = sg.backprop(graph, x, y, "mse", formulation="decoupled")
    coupled = sg.backprop(graph, x, y, "mse", formulation="coupled")
    for j in graph.order:
        gate = graph.activations[j].derivative(jnp.asarray(decoupled.forward.s[j]))
        np.testing.assert_allclose(coupled.S[j], decoupled.S[sg.plus(j)], rtol=1e-12)
        np.testing.assert_allclose(decoupled.S[sg.minus(j)], decoupled.S[sg.plus(j)] * gate)
    for edge in graph.weights:
        np.testing.assert_allclose(coupled.grad[edge], decoupled.grad[edge], rtol=1e-12)


def test_params_survive_the_round_trip_through_the_graph():
    activations = ("relu", "identity")
    theta, _, _ = _mlp_case((3, 5, 2), activations, seed=17)
    graph = sg.from_params(theta, activations)
    assert len(graph.weights) == 5 * 3 + 5 + 2 * 5 + 2
    back = sg.to_params(graph.weights, theta)
    for got, expected in zip(
        jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(theta), strict=True
    ):
        np.testing.assert_array_equal(got, expected)


# --- General DAGs with skip connections, against jax.grad of their own evaluation --------


def _evaluate(nodes, arcs, activation_names, outputs, x, y):
    """J = 1/2 ||y_hat - y||^2 of a DAG whose neurons are numbered in topological order.

    Written with jnp only, as a function of the vector of arc weights (biases are the
    arcs leaving "1"), for jax.grad.
    """

    def loss(weights):
        value = {"1": jnp.ones((), weights.dtype)}
        value.update({("x", k): x[k] for k in range(x.shape[0])})
        for j in nodes:
            s = sum(weights[e] * value[i] for e, (i, head) in enumerate(arcs) if head == j)
            value[j] = PHI[activation_names[j]](s)
        y_hat = jnp.stack([value[o] for o in outputs])
        return 0.5 * jnp.sum((y_hat - y) ** 2)

    return loss


def _random_skip_dag(seed, num_inputs=3, num_neurons=7, num_outputs=2):
    """Neurons 0..K-1; arcs from any earlier node with probability 1/2, so skips abound."""
    rng = np.random.default_rng(seed)
    inputs = [("x", k) for k in range(num_inputs)]
    names = sorted(PHI)
    activation_names = {j: names[rng.integers(len(names))] for j in range(num_neurons)}
    arcs = []
    for j in range(num_neurons):
        tails = [*inputs, *range(j)]
        chosen = [i for i in tails if rng.random() < 0.5] or [tails[rng.integers(len(tails))]]
        arcs += [(i, j) for i in chosen]
        if rng.random() < 0.7:
            arcs.append(("1", j))
    weights = {arc: float(rng.normal()) for arc in arcs}
    outputs = tuple(range(num_neurons - num_outputs, num_neurons))
    x = rng.normal(size=num_inputs)
    y = rng.uniform(size=num_outputs)
    return inputs, activation_names, weights, outputs, x, y


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_dag_with_skip_connections_matches_jax_grad(seed):
    inputs, activation_names, weights, outputs, x, y = _random_skip_dag(seed)
    graph = sg.ScalarGraph(inputs, activation_names, weights, outputs)
    result = sg.backprop(graph, np.asarray(x, np.float64), y, "mse")

    arcs = list(weights)
    loss = _evaluate(sorted(activation_names), arcs, activation_names, outputs, x, y)
    w = jnp.asarray([weights[a] for a in arcs], F64)
    expected_grad = jax.jit(jax.grad(loss))(w)
    got_grad = jnp.asarray([result.grad[a] for a in arcs])
    assert reference.relative_error(got_grad, expected_grad) < reference.tolerance(F64)
    np.testing.assert_allclose(result.loss, loss(w), rtol=1e-12)


def test_hand_built_dag_with_a_skip_arc_matches_jax_grad():
    # x0 -> h -> o, with the skip arc x0 -> o and a bias on h: o = tanh(w_xo x0 + w_ho
    # sigmoid(w_xh x0 + b_h)).
    weights = {("x0", "h"): 0.8, ("1", "h"): -0.3, ("h", "o"): 1.5, ("x0", "o"): -0.7}
    graph = sg.ScalarGraph(("x0",), {"h": "sigmoid", "o": "tanh"}, weights, ("o",))
    x0, target = 0.9, 0.2
    result = sg.backprop(graph, np.asarray([x0]), np.asarray([target]), "mse")

    def loss(w_xh, b_h, w_ho, w_xo):
        h = jax.nn.sigmoid(w_xh * x0 + b_h)
        return 0.5 * (jnp.tanh(w_xo * x0 + w_ho * h) - target) ** 2

    expected = jax.grad(loss, argnums=(0, 1, 2, 3))(0.8, -0.3, 1.5, -0.7)
    order = [("x0", "h"), ("1", "h"), ("h", "o"), ("x0", "o")]
    np.testing.assert_allclose([result.grad[e] for e in order], expected, rtol=1e-12)
    # S(x0, J) sums two paths: through h and along the skip arc.
    assert set(graph.out_arcs("x0")) == {"h", "o"}


# --- Bad input -----------------------------------------------------------------------------

BAD_GRAPHS = [
    pytest.param(
        (
            ("x",),
            {"a": "tanh", "b": "tanh"},
            {("x", "a"): 1.0, ("a", "b"): 1.0, ("b", "a"): 1.0},
            ("b",),
        ),
        "cycle",
        id="cycle",
    ),
    pytest.param(
        (("x",), {"a": "softmax"}, {("x", "a"): 1.0}, ("a",)), "not pointwise", id="softmax"
    ),
    pytest.param(
        (("x",), {"a": "tanh"}, {("a", "x"): 1.0}, ("a",)), "not a neuron", id="into-input"
    ),
    pytest.param((("x",), {"a": "tanh"}, {("q", "a"): 1.0}, ("a",)), "unknown node", id="unknown"),
    pytest.param(
        (("x",), {"a": "tanh"}, {("x", "a"): 1.0}, ("x",)), "output", id="input-as-output"
    ),
    pytest.param((("x",), {"J": "tanh"}, {("x", "J"): 1.0}, ("J",)), "reserved", id="reserved"),
    pytest.param(
        (("x",), {"a": "nope"}, {("x", "a"): 1.0}, ("a",)), "unknown activation", id="name"
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_GRAPHS)
def test_bad_graph_is_refused_with_a_clear_error(args, message):
    with pytest.raises(ValueError, match=message):
        sg.ScalarGraph(*args)


def test_non_pointwise_layer_is_refused_naming_the_layer():
    theta, x, y = _mlp_case((3, 4, 2), ("tanh", "softmax"), seed=0)
    with pytest.raises(ValueError, match="layer 2 has activation 'softmax'"):
        sg.backprop_params(theta, x, y, ("tanh", "softmax"), "mse")


def test_input_of_the_wrong_width_is_refused():
    graph = sg.ScalarGraph(("x0", "x1"), {"a": "tanh"}, {("x0", "a"): 1.0}, ("a",))
    with pytest.raises(ValueError, match=r"must have shape \(2,\)"):
        sg.forward(graph, np.zeros(3))


def test_inputs_are_not_mutated():
    activations = ("tanh", "sigmoid")
    theta, x, y = _mlp_case((3, 4, 2), activations, seed=3)
    theta_np = Params(tuple(np.array(W) for W in theta.W), tuple(np.array(b) for b in theta.b))
    before = jax.tree_util.tree_map(np.copy, theta_np)
    sg.backprop_params(theta_np, np.array(x), np.array(y), activations, "mse")
    for got, expected in zip(
        jax.tree_util.tree_leaves(theta_np), jax.tree_util.tree_leaves(before), strict=True
    ):
        np.testing.assert_array_equal(got, expected)
