"""Lecture 27: backpropagation on a DAG of scalar neurons.

The vector algorithms treat a layer as one object. Lecture 27 looks at the
same computation one scalar at a time: a neural network is a directed
acyclic computational graph whose nodes hold numbers y(i), and

* each arc (i, j) has an edge derivative z(i, j) = dy(j) / dy(i);
* the sensitivities S(i, t) = dy(t) / dy(i) of the output node t satisfy
  (Lemma 14) S(t, t) = 1 and S(i, t) = sum_{j in A(i)} S(j, t) z(i, j),
  where A(i) is the set of heads of the arcs leaving i; computed in reverse
  topological order, this is backpropagation.

In the *decoupled formulation* each neuron j is split into a linear subnode
j- computing s(j) = sum_{i in AI(j)} w_ij y(i) (AI(j): the tails of the
arcs entering j) and an activation subnode j+ computing y(j) = Phi(s(j)).
The edge derivatives become z(i, j-) = w_ij and z(j-, j+) = Phi'(s(j)), and
the weight gradient is read off as dJ/dw_ij = S(j-, t) y(i).

A :class:`ScalarGraph` is any such DAG with pointwise activations, skip
connections included. Biases are weights too: the graph has a constant node
:data:`ONE` with y = 1, and the bias of neuron j is the weight of the arc
(ONE, j), so dJ/db_j = S(j-, t) * 1 comes out of the same formula. The loss
node t is the cost node :data:`COST`, J = C(y_hat, y), with an arc from each
output neuron o carrying the edge derivative dC / dy_hat_o.

This is a teaching view, written with plain Python loops over nodes; it
suits graphs of tens of neurons. :func:`from_params` and :func:`to_params`
translate between it and the layered ``Params`` of the notes, so that
:func:`backprop_params` can be compared with ``manualgrad.ALGORITHMS``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Final, Literal, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from manualgrad import _validation
from manualgrad.activations import Activation, Pointwise, get_activation
from manualgrad.costs import Cost, get_cost
from manualgrad.params import Params

__all__ = [
    "COST",
    "ONE",
    "Formulation",
    "ForwardPass",
    "ScalarBackprop",
    "ScalarGraph",
    "backprop",
    "backprop_params",
    "edge_derivatives",
    "forward",
    "from_params",
    "minus",
    "plus",
    "sensitivity_recursion",
    "to_params",
    "topological_order",
]

Node = Hashable
Edge = tuple[Node, Node]
Formulation = Literal["decoupled", "coupled"]

#: The constant node, y(ONE) = 1; the weight of the arc (ONE, j) is j's bias.
ONE: Final = "1"
#: The cost node t = J = C(y_hat, y), the single output node of the graph.
COST: Final = "J"


def minus(j: Node) -> tuple[Node, str]:
    """The linear subnode j- of neuron j, which holds s(j)."""
    return (j, "-")


def plus(j: Node) -> tuple[Node, str]:
    """The activation subnode j+ of neuron j, which holds y(j) = Phi(s(j))."""
    return (j, "+")


def topological_order(nodes: Iterable[Node], arcs: Iterable[Edge]) -> tuple[Node, ...]:
    """Orders ``nodes`` so that every arc (i, j) has i before j (Kahn's algorithm).

    Ties keep the order in which nodes are given, so the result is
    deterministic.

    Raises:
      ValueError: when the arcs contain a directed cycle (naming its nodes),
        or an arc touches a node not in ``nodes``.
    """
    nodes = list(dict.fromkeys(nodes))
    known = set(nodes)
    heads: dict[Node, list[Node]] = {v: [] for v in nodes}
    in_degree = dict.fromkeys(nodes, 0)
    for i, j in arcs:
        for v in (i, j):
            if v not in known:
                raise ValueError(f"arc ({i!r}, {j!r}) touches {v!r}, which is not a node")
        heads[i].append(j)
        in_degree[j] += 1
    ready = [v for v in nodes if in_degree[v] == 0]
    order: list[Node] = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for j in heads[i]:
            in_degree[j] -= 1
            if in_degree[j] == 0:
                ready.append(j)
    if len(order) < len(nodes):
        on_cycle = [v for v in nodes if in_degree[v] > 0]
        raise ValueError(
            f"the graph has a directed cycle through {on_cycle!r}; a computational "
            "graph must be acyclic"
        )
    return tuple(order)


@dataclasses.dataclass(frozen=True, eq=False)
class ScalarGraph:
    """A DAG of scalar neurons with pointwise activations.

    Attributes:
      inputs: the input nodes, in the order of the entries of x.
      activations: neuron -> Phi (a name or a ``Pointwise`` activation); its
        keys are the neurons, every node other than the inputs and ``ONE``.
      weights: (i, j) -> w_ij for every arc. The tail i is an input, ``ONE``
        (then w_ij is the bias of j) or a neuron; the head j is a neuron.
        Skip connections are arcs like any other.
      outputs: the neurons whose values form y_hat, in order.
      order: the neurons in a topological order (computed).
    """

    inputs: tuple[Node, ...]
    activations: Mapping[Node, Pointwise]
    weights: Mapping[Edge, float]
    outputs: tuple[Node, ...]
    order: tuple[Node, ...] = dataclasses.field(init=False)
    _tails: dict[Node, list[Node]] = dataclasses.field(init=False, repr=False)
    _heads: dict[Node, list[Node]] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        inputs = tuple(self.inputs)
        outputs = tuple(self.outputs)
        if len(set(inputs)) != len(inputs):
            raise ValueError(f"ScalarGraph: the inputs {inputs!r} repeat a node")
        reserved = {ONE, COST} & ({*inputs} | {*self.activations})
        if reserved:
            raise ValueError(f"ScalarGraph: {sorted(map(repr, reserved))} are reserved node names")
        activations: dict[Node, Pointwise] = {}
        for j, phi in self.activations.items():
            if j in inputs:
                raise ValueError(f"ScalarGraph: input node {j!r} cannot have an activation")
            phi = get_activation(phi)
            if not isinstance(phi, Pointwise):
                raise ValueError(
                    f"ScalarGraph: neuron {j!r} has activation {phi.name!r}, which is not "
                    "pointwise; a scalar node applies Phi to its own s(j) alone"
                )
            activations[j] = phi
        weights: dict[Edge, float] = {}
        for edge, w in self.weights.items():
            try:
                i, j = edge
            except (TypeError, ValueError):
                raise ValueError(f"ScalarGraph: arc {edge!r} is not a pair (i, j)") from None
            if j not in activations:
                raise ValueError(
                    f"ScalarGraph: arc ({i!r}, {j!r}) enters {j!r}, which is not a neuron "
                    "(only neurons have in-arcs)"
                )
            if i != ONE and i not in inputs and i not in activations:
                raise ValueError(f"ScalarGraph: arc ({i!r}, {j!r}) leaves unknown node {i!r}")
            weights[(i, j)] = w
        for o in outputs:
            if o not in activations:
                raise ValueError(f"ScalarGraph: output {o!r} is not a neuron")
        if not outputs:
            raise ValueError("ScalarGraph: needs at least one output neuron")
        order = topological_order(
            [ONE, *inputs, *activations],
            list(weights),
        )
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "outputs", outputs)
        object.__setattr__(self, "activations", activations)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "order", tuple(v for v in order if v in activations))
        tails: dict[Node, list[Node]] = {v: [] for v in order}
        heads: dict[Node, list[Node]] = {v: [] for v in order}
        for i, j in weights:
            tails[j].append(i)
            heads[i].append(j)
        object.__setattr__(self, "_tails", tails)
        object.__setattr__(self, "_heads", heads)

    def in_arcs(self, j: Node) -> list[Node]:
        """AI(j): the tails i of the arcs (i, j) entering neuron j."""
        return list(self._tails[j])

    def out_arcs(self, i: Node) -> list[Node]:
        """A(i): the heads j of the arcs (i, j) leaving node i."""
        return list(self._heads[i])


class ForwardPass(NamedTuple):
    """The values of the forward pass.

    Attributes:
      s: neuron j -> its pre-activation s(j) (a 0-d NumPy array).
      y: node -> its value y(i): inputs, ``ONE`` (= 1) and every neuron.
    """

    s: dict[Node, np.ndarray]
    y: dict[Node, np.ndarray]


class ScalarBackprop(NamedTuple):
    """Everything the scalar backward pass computes.

    Attributes:
      loss: J = C(y_hat, y).
      forward: the forward pass.
      edge_derivatives: (u, v) -> z(u, v) on the graph the recursion ran on.
      S: node -> S(node, J). Keys are ``minus(j)``/``plus(j)`` for neurons in
        the decoupled formulation and the neurons themselves in the coupled
        one; inputs, ``ONE`` and ``COST`` appear in both.
      grad: (i, j) -> dJ/dw_ij for every arc of the graph (biases included).
    """

    loss: np.ndarray
    forward: ForwardPass
    edge_derivatives: dict[Edge, np.ndarray]
    S: dict[Node, np.ndarray]
    grad: dict[Edge, np.ndarray]


def _scalar(value: ArrayLike, dtype: np.dtype) -> np.ndarray:
    return np.asarray(value, dtype=dtype)


def _apply(fn, s: np.ndarray) -> np.ndarray:
    """A manualgrad (JAX) function of one scalar, back as a NumPy scalar of s's dtype."""
    return np.asarray(fn(jnp.asarray(s)), dtype=s.dtype)


def forward(graph: ScalarGraph, x: ArrayLike) -> ForwardPass:
    """Runs the network forward, one neuron at a time in topological order.

    Args:
      graph: the network.
      x: the input values, shape (len(graph.inputs),), a floating dtype; every
        value is computed in that dtype.

    Returns:
      s(j) and y(j) for every neuron (and y of the inputs and of ``ONE``).
    """
    x = np.asarray(x)
    if x.shape != (len(graph.inputs),):
        raise ValueError(
            f"scalar_graph.forward: x has shape {x.shape} but the graph has "
            f"{len(graph.inputs)} inputs, so x must have shape ({len(graph.inputs)},)"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"scalar_graph.forward: x has dtype {x.dtype}; need a floating dtype")
    dtype = x.dtype
    y: dict[Node, np.ndarray] = {ONE: _scalar(1, dtype)}
    y.update({i: _scalar(v, dtype) for i, v in zip(graph.inputs, x, strict=True)})
    s: dict[Node, np.ndarray] = {}
    for j in graph.order:
        total = _scalar(0, dtype)
        for i in graph.in_arcs(j):
            total = total + _scalar(graph.weights[(i, j)], dtype) * y[i]  # s(j) = sum w_ij y(i)
        s[j] = total
        y[j] = _apply(graph.activations[j], s[j])  # y(j) = Phi(s(j))
    return ForwardPass(s, y)


def _gates(graph: ScalarGraph, fwd: ForwardPass) -> dict[Node, np.ndarray]:
    """The local gate Phi'(s(j)) of every neuron."""
    return {j: _apply(graph.activations[j].derivative, fwd.s[j]) for j in graph.order}


def edge_derivatives(
    graph: ScalarGraph,
    fwd: ForwardPass,
    cost_gradient: Sequence[np.ndarray],
    *,
    formulation: Formulation = "decoupled",
) -> dict[Edge, np.ndarray]:
    """The edge derivatives z(u, v) = dy(v) / dy(u) of the graph ending in ``COST``.

    Args:
      graph: the network.
      fwd: its forward pass.
      cost_gradient: dC / dy_hat_o for each output o, in ``graph.outputs`` order;
        the derivatives of the arcs (o, J).
      formulation: "decoupled": arcs (i, j-) with w_ij and (j-, j+) with
        Phi'(s(j)); "coupled": arcs (i, j) with Phi'(s(j)) w_ij, eq. (1).

    Returns:
      (u, v) -> z(u, v) as 0-d NumPy arrays.
    """
    dtype = fwd.y[ONE].dtype
    gate = _gates(graph, fwd)

    def out(v: Node) -> Node:
        # Arcs leave a neuron from its activation subnode.
        if formulation == "decoupled" and v in graph.activations:
            return plus(v)
        return v

    z: dict[Edge, np.ndarray] = {}
    for (i, j), w in graph.weights.items():
        w = _scalar(w, dtype)
        if formulation == "decoupled":
            z[(out(i), minus(j))] = w  # z(i, j-) = w_ij
        else:
            z[(i, j)] = gate[j] * w  # z(i, j) = Phi'(s_j) w_ij, eq. (1)
    if formulation == "decoupled":
        for j in graph.order:
            z[(minus(j), plus(j))] = gate[j]  # z(j-, j+) = Phi'(s(j))
    for o, g in zip(graph.outputs, cost_gradient, strict=True):
        z[(out(o), COST)] = _scalar(g, dtype)  # z(o, J) = dC / dy_hat_o
    return z


def sensitivity_recursion(edges: Mapping[Edge, ArrayLike], target: Node) -> dict[Node, np.ndarray]:
    """Lemma 14: S(t, t) = 1, S(i, t) = sum_{j in A(i)} S(j, t) z(i, j).

    Runs over the nodes in reverse topological order, so every S(j, t) on the
    right is known when S(i, t) is computed. A node with no path to t gets 0.

    Args:
      edges: (i, j) -> z(i, j), the edge derivatives of a DAG.
      target: the output node t.

    Returns:
      node -> S(node, t), in the dtype of the edge derivatives.
    """
    nodes = [v for edge in edges for v in edge]
    if target not in nodes:
        raise ValueError(f"sensitivity_recursion: target {target!r} is on no arc")
    dtype = np.result_type(*(np.asarray(z) for z in edges.values()))
    heads: dict[Node, list[tuple[Node, np.ndarray]]] = {v: [] for v in nodes}
    for (i, j), z in edges.items():
        heads[i].append((j, np.asarray(z, dtype=dtype)))
    S: dict[Node, np.ndarray] = {}
    for i in reversed(topological_order(nodes, edges)):
        if i == target:
            S[i] = _scalar(1, dtype)  # S(t, t) = 1
            continue
        total = _scalar(0, dtype)
        for j, z in heads[i]:
            total = total + S[j] * z  # S(i, t) = sum_{j in A(i)} S(j, t) z(i, j)
        S[i] = total
    return S


def backprop(
    graph: ScalarGraph,
    x: ArrayLike,
    y: ArrayLike,
    cost: str | Cost,
    *,
    formulation: Formulation = "decoupled",
) -> ScalarBackprop:
    """The gradient of J = C(y_hat, y) with respect to every weight and bias.

    Forward pass, edge derivatives, the sensitivity recursion towards the
    cost node J, then dJ/dw_ij = S(j-, J) y(i) (decoupled) or, equivalently,
    S(j, J) Phi'(s(j)) y(i) (coupled: downstream sensitivity, local gate,
    upstream activation).

    Args:
      graph: the network.
      x: input values, shape (len(graph.inputs),).
      y: the target, shape (len(graph.outputs),).
      cost: the cost C, a name or Cost.
      formulation: "decoupled" (j-, j+ subnodes) or "coupled".

    Returns:
      loss, forward pass, edge derivatives, sensitivities and gradients.
    """
    if formulation not in ("decoupled", "coupled"):
        raise ValueError(f"formulation must be 'decoupled' or 'coupled', got {formulation!r}")
    cost = get_cost(cost)
    fwd = forward(graph, x)
    dtype = fwd.y[ONE].dtype
    y = np.asarray(y, dtype=dtype)
    if y.shape != (len(graph.outputs),):
        raise ValueError(
            f"scalar_graph.backprop: y has shape {y.shape} but the graph has "
            f"{len(graph.outputs)} outputs"
        )
    y_hat = np.stack([fwd.y[o] for o in graph.outputs])
    loss = np.asarray(cost(jnp.asarray(y_hat), jnp.asarray(y)), dtype=dtype)
    cost_gradient = np.asarray(cost.grad(jnp.asarray(y_hat), jnp.asarray(y)), dtype=dtype)
    z = edge_derivatives(graph, fwd, list(cost_gradient), formulation=formulation)
    S = sensitivity_recursion(z, COST)
    grad: dict[Edge, np.ndarray] = {}
    if formulation == "decoupled":
        for i, j in graph.weights:
            grad[(i, j)] = S[minus(j)] * fwd.y[i]  # dJ/dw_ij = S(j-, t) y(i)
    else:
        gate = _gates(graph, fwd)
        for i, j in graph.weights:
            grad[(i, j)] = S[j] * gate[j] * fwd.y[i]  # dJ/dw_ij = S(j, t) Phi'(s(j)) y(i)
    return ScalarBackprop(loss, fwd, z, S, grad)


def from_params(theta: Params, activations: Sequence[str | Activation]) -> ScalarGraph:
    """The layered network theta as a scalar graph.

    Node (0, k) is input k and node (l, k) is neuron k of layer l (indices from
    0, as in the arrays). Arc ((l-1, k), (l, j)) carries W_l[j, k] and arc
    (ONE, (l, j)) carries b_l[j]; the outputs are the neurons of layer L.

    Args:
      theta: Params(W, b).
      activations: sigma_1..sigma_L, all pointwise.

    Raises:
      ValueError: a non-pointwise activation (softmax, radial sigmoid,
        pooling: none is a function of one coordinate), or shapes that do
        not fit.
    """
    where = "scalar_graph.from_params"
    theta = _validation.check_params(theta, where)
    L = len(theta.W)
    activations = _validation.check_activations(activations, L, where)
    _validation.check_widths(theta, activations, where)
    for l, phi in enumerate(activations, start=1):
        if not isinstance(phi, Pointwise):
            raise ValueError(
                f"{where}: layer {l} has activation {phi.name!r}, which is not pointwise; "
                "the scalar graph view needs sigma_l(z)_j to depend on z_j alone"
            )
    n_0 = theta.W[0].shape[1]
    neurons: dict[Node, Pointwise] = {}
    weights: dict[Edge, float] = {}
    for l, (W, b, phi) in enumerate(zip(theta.W, theta.b, activations, strict=True), start=1):
        W, b = np.asarray(W), np.asarray(b)
        for j in range(W.shape[0]):
            neurons[(l, j)] = phi
            for k in range(W.shape[1]):
                weights[((l - 1, k), (l, j))] = W[j, k]
            weights[(ONE, (l, j))] = b[j]
    outputs = tuple((L, j) for j in range(theta.W[-1].shape[0]))
    return ScalarGraph(tuple((0, k) for k in range(n_0)), neurons, weights, outputs)


def to_params(grad: Mapping[Edge, ArrayLike], theta: Params) -> Params:
    """Per-arc gradients of a graph built by :func:`from_params`, as Params like theta.

    Args:
      grad: (i, j) -> dJ/dw_ij for every arc of ``from_params(theta, ...)``.
      theta: the parameters, for the shapes and dtype.

    Returns:
      Params with grad_W_l[j, k] = grad[((l-1, k), (l, j))] and
      grad_b_l[j] = grad[(ONE, (l, j))].
    """
    W_grads, b_grads = [], []
    for l, (W, b) in enumerate(zip(theta.W, theta.b, strict=True), start=1):
        n, m = W.shape
        W_grads.append(
            jnp.asarray(
                [[grad[((l - 1, k), (l, j))] for k in range(m)] for j in range(n)],
                dtype=W.dtype,
            ).reshape(n, m)
        )
        b_grads.append(jnp.asarray([grad[(ONE, (l, j))] for j in range(n)], dtype=b.dtype))
    return Params(tuple(W_grads), tuple(b_grads))


def backprop_params(
    theta: Params,
    x: ArrayLike,
    y: ArrayLike,
    activations: Sequence[str | Activation],
    cost: str | Cost,
    *,
    formulation: Formulation = "decoupled",
) -> Params:
    """grad_theta L computed on the scalar graph of theta, returned as Params.

    Args:
      theta: Params(W, b) with pointwise activations.
      x: one sample (n_0,), or a batch (N, n_0) whose loss is the extended
        cost (the sum over rows, as in Algorithms 2 and 5).
      y: the target, (n_L,) or (N, n_L).
      activations: sigma_1..sigma_L, pointwise.
      cost: the cost C.
      formulation: "decoupled" or "coupled".

    Returns:
      The gradient as Params, shaped and typed like theta.
    """
    x = jnp.asarray(x)
    checked = _validation.check_inputs(
        theta, x, y, activations, cost, batch=x.ndim == 2, where="scalar_graph.backprop_params"
    )
    graph = from_params(checked.theta, checked.activations)
    X = np.asarray(checked.x).reshape(-1, x.shape[-1])
    Y = np.asarray(checked.y).reshape(X.shape[0], -1)
    total: dict[Edge, np.ndarray] = {}
    for x_row, y_row in zip(X, Y, strict=True):
        grad = backprop(graph, x_row, y_row, checked.cost, formulation=formulation).grad
        for edge, g in grad.items():
            total[edge] = total.get(edge, 0) + g
    return to_params(total, checked.theta)
