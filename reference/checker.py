"""Checks someone else's backpropagation against jax.grad, and says what is wrong.

:func:`check_backprop` draws seeded random networks and batches, calls the
candidate gradient function on each, and compares every W_l and b_l with
:func:`reference.grad`. It returns None when all agree, and otherwise raises
an ``AssertionError`` whose message localizes the mistake and reads a
diagnosis off the structure of the equations.

The diagnosis is a table of rules (:data:`RULES`), each a pure function of
an :class:`Observation`: per-layer errors, the factor by which a layer is
off, whether a weight gradient is transposed, and how closely the candidate
matches each classic mistake of :data:`MISTAKES` (backprop recomputed with
that one mistake planted, from the same forward pass).

Equations are the notes': for one sample (Proposition 3.1)

* (3.1) grad_z_L = Jac_L^T grad_yhat C(-, y)
* (3.2) grad_z_{l-1} = Jac_{l-1}^T W_l^T grad_z_l
* (3.3) grad_W_l = grad_z_l a_{l-1}^T
* (3.4) grad_b_l = grad_z_l

and for a batch, rows first (Proposition 4.1): (4.1) grad_Z_L[i] =
grad C[i] @ Jac_{i,L}, (4.2) grad_Z_{l-1}[i] = grad_Z_l[i] @ W_l @
Jac_{i,l-1}, (4.3) grad_W_l = grad_Z_l^T A_{l-1}, (4.4) grad_b_l =
grad_Z_l^T 1_N.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

import manualgrad
from manualgrad import Activation, Cost, Params
from reference import _forward
from reference.autodiff import grad as reference_grad
from reference.tolerances import TOLERANCES, leaf_relative_errors, relative_error, tolerance

__all__ = [
    "MISTAKES",
    "OUTPUT_ACTIVATIONS",
    "RULES",
    "LeafReport",
    "Mistake",
    "Observation",
    "Rule",
    "check_backprop",
    "diagnose",
    "draw_case",
    "draw_targets",
]

#: cost -> the output activations whose range the cost accepts (None: any).
#: Cross-entropy takes log(y_hat): it needs y_hat > 0. Binary cross-entropy
#: takes log(y_hat) and log(1 - y_hat): it needs 0 < y_hat < 1.
OUTPUT_ACTIVATIONS: dict[str, tuple[str, ...] | None] = {
    "mse": None,
    "huber": None,
    "cross_entropy": ("softmax", "sigmoid", "softplus"),
    "binary_cross_entropy": ("sigmoid", "softmax"),
}

Candidate = Callable[[Params, jax.Array, jax.Array], Any]


# --------------------------------------------------------------------------
# Drawing the test problems.
# --------------------------------------------------------------------------


def draw_targets(
    key: jax.Array, cost: str | Cost, shape: tuple[int, ...], dtype: DTypeLike
) -> jax.Array:
    """Targets Y the cost is defined on.

    Cross-entropy gets probability vectors (rows of a softmax), binary
    cross-entropy entries in [0, 1), Huber residuals on both sides of its
    delta (2 x a standard normal), anything else a standard normal.

    Args:
      key: a PRNG key.
      cost: a name or manualgrad cost.
      shape: (N, m_L).
      dtype: a floating dtype.

    Returns:
      An array of ``shape`` and ``dtype``.
    """
    name = manualgrad.get_cost(cost).name
    if name == "cross_entropy":
        return jax.nn.softmax(jax.random.normal(key, shape, dtype), axis=-1)
    if name == "binary_cross_entropy":
        return jax.random.uniform(key, shape, dtype)
    if name == "huber":
        return 2 * jax.random.normal(key, shape, dtype)
    return jax.random.normal(key, shape, dtype)


def draw_case(
    seed: int,
    *,
    activations: Sequence[str | Activation],
    cost: str | Cost,
    dims: Sequence[int],
    batch_size: int = 8,
    dtype: DTypeLike = "float64",
) -> tuple[Params, jax.Array, jax.Array]:
    """The (theta, X, Y) that :func:`check_backprop` draws for ``seed``.

    ``key_theta, key_x, key_y = jax.random.split(jax.random.PRNGKey(seed), 3)``;
    theta is ``manualgrad.init_params(key_theta, dims, activations,
    dtype=dtype)``, X a standard normal (N, n_0) from ``key_x`` and Y
    :func:`draw_targets` from ``key_y``. float64 needs 64-bit JAX enabled
    (``jax.config.update("jax_enable_x64", True)`` or ``with
    jax.enable_x64(True):``).

    Returns:
      (theta, X of shape (batch_size, n_0), Y of shape (batch_size, m_L)).
    """
    return _draw(
        seed,
        activations=tuple(manualgrad.get_activation(a) for a in activations),
        cost=manualgrad.get_cost(cost),
        dims=tuple(int(n) for n in dims),
        batch_size=int(batch_size),
        dtype=jnp.dtype(dtype).name,
    )


# One compilation per network serves every seed; drawn op by op, each shape
# would compile its own kernels.
@functools.partial(jax.jit, static_argnames=("activations", "cost", "dims", "batch_size", "dtype"))
def _draw(
    seed: jax.Array,
    *,
    activations: tuple[Activation, ...],
    cost: Cost,
    dims: tuple[int, ...],
    batch_size: int,
    dtype: str,
) -> tuple[Params, jax.Array, jax.Array]:
    key_theta, key_x, key_y = jax.random.split(jax.random.PRNGKey(seed), 3)
    theta = manualgrad.init_params(key_theta, dims, activations, dtype=dtype)
    out_width = activations[-1].output_width(dims[-1])
    X = jax.random.normal(key_x, (batch_size, dims[0]), dtype)
    Y = draw_targets(key_y, cost, (batch_size, out_width), dtype)
    return theta, X, Y


# --------------------------------------------------------------------------
# Arguments.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Spec:
    """Validated arguments of one check."""

    activations: tuple[Activation, ...]
    cost: Cost
    dims: tuple[int, ...]
    batch_size: int
    seeds: tuple[int, ...]
    dtype: str

    @property
    def num_layers(self) -> int:
        return len(self.dims) - 1

    @property
    def tolerance(self) -> float:
        return tolerance(self.dtype)

    def describe_activations(self) -> str:
        return "(" + ", ".join(repr(_name(a)) for a in self.activations) + ")"


def _name(activation: Activation) -> str:
    """A registered activation's name; anything else by its repr."""
    name = getattr(activation, "name", None)
    if name is not None and type(activation) is manualgrad.ACTIVATIONS.get(name):
        default = type(activation)()
        return activation.name if activation == default else repr(activation)
    return repr(activation)


def _spec(
    activations: Sequence[str | Activation],
    cost: str | Cost,
    dims: Sequence[int],
    batch_size: int,
    seeds: Sequence[int],
    dtype: DTypeLike,
) -> _Spec:
    where = "check_backprop"
    if isinstance(activations, (str, Activation)) or not isinstance(activations, Sequence):
        raise ValueError(
            f"{where}: activations must be a sequence with one entry per layer, got {activations!r}"
        )
    resolved = []
    for l, activation in enumerate(activations, start=1):
        try:
            resolved.append(manualgrad.get_activation(activation))
        except (ValueError, TypeError) as error:
            raise ValueError(f"{where}: activation of layer {l}: {error}") from None
    try:
        cost = manualgrad.get_cost(cost)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{where}: {error}") from None
    try:
        dims = tuple(int(n) for n in dims)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: dims must be a sequence of integers, got {dims!r}") from None
    if len(dims) < 2 or min(dims) < 1:
        raise ValueError(f"{where}: dims must be (n_0, ..., n_L) with L >= 1 and n >= 1: {dims}")
    if len(resolved) != len(dims) - 1:
        raise ValueError(
            f"{where}: dims {dims} describe {len(dims) - 1} layers but "
            f"{len(resolved)} activations were given (one per layer, sigma_1..sigma_L)"
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{where}: batch_size must be a positive integer, got {batch_size!r}")
    seeds = tuple(seeds)
    if not seeds or not all(isinstance(s, numbers.Integral) for s in seeds):
        raise ValueError(f"{where}: seeds must be a non-empty sequence of integers: {seeds!r}")
    try:
        dtype_name = jnp.dtype(dtype).name
    except TypeError:
        dtype_name = str(dtype)
    if dtype_name not in TOLERANCES:
        raise ValueError(f"{where}: dtype must be one of {sorted(TOLERANCES)}, got {dtype!r}")
    output = resolved[-1]
    accepted = OUTPUT_ACTIVATIONS.get(cost.name)
    name = getattr(output, "name", None)
    registered = name is not None and type(output) is manualgrad.ACTIVATIONS.get(name)
    if accepted is not None and registered and name not in accepted:
        raise ValueError(
            f"{where}: cost {cost.name} is not defined on every output of "
            f"sigma_L = {output.name}; use one of {', '.join(accepted)} at the output"
        )
    return _Spec(tuple(resolved), cost, dims, batch_size, seeds, dtype_name)


# --------------------------------------------------------------------------
# The candidate's output.
# --------------------------------------------------------------------------


def _fail(message: str) -> None:
    __tracebackhide__ = True
    raise AssertionError(f"check_backprop: {message}")


def _layers_of(result: Any, num_layers: int) -> list[tuple[Any, Any]]:
    """The candidate's (W_l, b_l) pairs, from Params or a list of pairs."""
    __tracebackhide__ = True
    if hasattr(result, "W") and hasattr(result, "b"):
        W, b = list(result.W), list(result.b)
        if len(W) != num_layers or len(b) != num_layers:
            _fail(
                f"candidate returned Params with {len(W)} weight and {len(b)} bias "
                f"gradients, network has {num_layers} layers"
            )
        return list(zip(W, b, strict=True))
    if isinstance(result, (str, bytes)) or not isinstance(result, Sequence):
        _fail(
            f"candidate returned {type(result).__name__}; expected manualgrad.Params(W, b) "
            f"or a list of (W_l, b_l) pairs, one per layer"
        )
    if len(result) != num_layers:
        _fail(f"candidate returned {len(result)} layers, network has {num_layers}")
    pairs = []
    for l, pair in enumerate(result, start=1):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            _fail(
                f"layer {l} of the candidate's result is not a (W_{l}, b_{l}) pair: "
                f"got {type(pair).__name__}"
            )
        pairs.append((pair[0], pair[1]))
    return pairs


def _checked_array(value: Any, name: str, shape: tuple[int, ...], spec: _Spec) -> np.ndarray:
    """One gradient leaf as float64 NumPy, or an AssertionError saying what is wrong."""
    __tracebackhide__ = True
    if not isinstance(value, (np.ndarray, np.generic, jax.Array)):
        _fail(f"{name} is a {type(value).__name__}, not an array (NumPy or JAX)")
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        _fail(f"{name} has dtype {array.dtype}, expected {spec.dtype}")
    if np.finfo(array.dtype).bits < np.finfo(np.dtype(spec.dtype)).bits:
        _fail(
            f"{name} has dtype {array.dtype}, but the check runs in {spec.dtype}: compute "
            f"the gradient in theta's dtype"
        )
    if array.shape != shape:
        hint = _shape_hint(name, array, shape, spec)
        _fail(f"{name} has shape {array.shape}, expected {shape}{hint}")
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        _fail(f"{name} has {int(bad.sum())} non-finite entries (NaN or inf), the first at {first}")
    return array.astype(np.float64)


def _shape_hint(name: str, array: np.ndarray, shape: tuple[int, ...], spec: _Spec) -> str:
    l = name.split("_")[1]
    if name.startswith("W") and array.shape == shape[::-1]:
        return (
            f" — transposed? grad_W_{l} = grad_Z_{l}^T A_{int(l) - 1} has the shape of "
            f"W_{l}, (n_{l}, m_{int(l) - 1}) (eq. 4.3)"
        )
    if name.startswith("b") and array.shape == (spec.batch_size, *shape):
        return (
            f" — one row per sample: grad_b_{l} sums grad_Z_{l} over the rows of the "
            f"batch, grad_Z_{l}^T 1_N (eq. 4.4)"
        )
    if name.startswith("b") and array.size == shape[0]:
        return f" — return grad_b_{l} as a vector of shape {shape}"
    return ""


def _as_leaves(result: Any, theta: Params, spec: _Spec) -> list[np.ndarray]:
    """[W_1..W_L, b_1..b_L] from the candidate, checked against theta's shapes."""
    __tracebackhide__ = True
    pairs = _layers_of(result, spec.num_layers)
    W = [
        _checked_array(w, f"W_{l}", tuple(theta.W[l - 1].shape), spec)
        for l, (w, _) in enumerate(pairs, start=1)
    ]
    b = [
        _checked_array(v, f"b_{l}", tuple(theta.b[l - 1].shape), spec)
        for l, (_, v) in enumerate(pairs, start=1)
    ]
    return W + b


# --------------------------------------------------------------------------
# Observations: what the diagnosis rules read.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LeafReport:
    """How one gradient leaf (W_l or b_l) compares with the reference.

    Attributes:
      name: "W_l" or "b_l", 1-based as in the notes.
      layer: l.
      error: the relative error (reference.relative_error's measure).
      ok: whether ``error`` is within the tolerance.
      factor: f when the candidate's leaf is f times the expected one
        (within the tolerance), else None. Always None for a zero leaf.
      transposed: whether a square W_l's gradient came back transposed.
      index: the worst element's index.
      expected: the expected value there.
      got: the candidate's value there.
    """

    name: str
    layer: int
    error: float
    ok: bool
    factor: float | None = None
    transposed: bool = False
    index: tuple[int, ...] = ()
    expected: float = 0.0
    got: float = 0.0

    @property
    def kind(self) -> str:
        """ "W" or "b"."""
        return self.name[0]


@dataclasses.dataclass(frozen=True)
class Observation:
    """Everything the diagnosis rules see of one failing seed.

    Attributes:
      leaves: a LeafReport for each of W_1, b_1, ..., W_L, b_L.
      batch_size: N.
      activations: the names of sigma_1..sigma_L.
      cost: the cost's name.
      mistakes: for each classic mistake of :data:`MISTAKES` that applies to
        this network, the relative error of the candidate against backprop
        with that mistake planted; within the tolerance means it matches.
      tolerance: the dtype's tolerance.
    """

    leaves: tuple[LeafReport, ...]
    batch_size: int
    activations: tuple[str, ...]
    cost: str
    mistakes: Mapping[str, float]
    tolerance: float

    @property
    def num_layers(self) -> int:
        return len(self.activations)

    def leaf(self, name: str) -> LeafReport:
        return next(r for r in self.leaves if r.name == name)

    @property
    def wrong(self) -> tuple[LeafReport, ...]:
        return tuple(r for r in self.leaves if not r.ok)

    @property
    def entry_layer(self) -> int | None:
        """The outermost (highest l) layer with a wrong leaf: where the mistake enters.

        Backprop runs from layer L down and each layer's gradients depend only
        on the layers above, so the first wrong layer met on the way down is
        where the mistake is made; the layers below it inherit it.
        """
        return max((r.layer for r in self.wrong), default=None)

    def matches(self, mistake: str) -> bool:
        return mistake in self.mistakes and self.mistakes[mistake] <= self.tolerance

    def common_factor(self) -> float | None:
        """f when every nonzero leaf is off by the same factor f (to 3 digits)."""
        factors = [r.factor for r in self.leaves if not (r.ok and r.factor is None)]
        if not factors or any(f is None for f in factors):
            return None
        first = factors[0]
        if all(math.isclose(f, first, rel_tol=1e-3) for f in factors) and not math.isclose(
            first, 1.0, rel_tol=1e-3
        ):
            return first
        return None


def _named_factors(batch_size: int) -> list[float]:
    """The factors that name a mistake (sign, mean vs sum, the MSE 1/2), for N rows."""
    return [-1.0, 1.0 / batch_size, float(batch_size), 2.0, 0.5, -1.0 / batch_size]


def _leaf_report(
    name: str, got: np.ndarray, expected: np.ndarray, error: float, spec: _Spec
) -> LeafReport:
    """The report of one leaf whose relative error (among all leaves) is ``error``."""
    tol = spec.tolerance
    difference = np.abs(got - expected)
    index = tuple(int(i) for i in np.unravel_index(np.argmax(difference), difference.shape))
    factor = None
    if np.any(expected != 0) and error > 0:
        for f in _named_factors(spec.batch_size):
            if relative_error([got], [f * expected]) <= tol:
                factor = f
                break
        else:
            fit = float(np.vdot(got, expected) / np.vdot(expected, expected))
            if fit != 0 and relative_error([got], [fit * expected]) <= tol:
                factor = fit
    transposed = (
        name.startswith("W")
        and got.shape[0] == got.shape[1]
        and error > tol
        and relative_error([got], [expected.T]) <= tol
    )
    return LeafReport(
        name=name,
        layer=int(name.split("_")[1]),
        error=error,
        ok=error <= tol,
        factor=factor,
        transposed=bool(transposed),
        index=index,
        expected=float(expected[index]),
        got=float(got[index]),
    )


# --------------------------------------------------------------------------
# Classic mistakes, planted into backprop recomputed from the same forward pass.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Pass:
    """The forward pass of one batch in float64, 1-based lists as in the notes.

    W[l], b[l]; Z[l] (N, n_l); A[l] (N, m_l) with A[0] = X; J[l] (N, m_l, n_l)
    the Jacobian of sigma_l at each row's z_l; G (N, m_L) the cost gradient at
    the output.
    """

    W: list
    b: list
    Z: list
    A: list
    J: list
    G: np.ndarray

    @property
    def L(self) -> int:
        return len(self.W) - 1


@functools.partial(jax.jit, static_argnames=("activations", "cost"))
def _forward_arrays(
    theta: Params, X: jax.Array, Y: jax.Array, activations: tuple[Activation, ...], cost: Cost
) -> tuple[list, list, list, jax.Array]:
    """Z_l, A_l, Jac_{i,l} (jax.jacfwd) and grad_yhat C, all rows at once."""
    zs, as_ = jax.vmap(lambda x: _forward.forward(theta, x, activations))(X)
    jacobians = [
        jax.vmap(jax.jacfwd(_forward.activation_fn(act)))(z)
        for act, z in zip(activations, zs, strict=True)
    ]
    G = jax.vmap(jax.grad(_forward.cost_fn(cost)))(as_[-1], Y)
    return zs, as_, jacobians, G


def _forward_pass(theta: Params, X: Any, Y: Any, spec: _Spec) -> _Pass:
    as64 = lambda v: jnp.asarray(v, dtype=jnp.float64)  # noqa: E731
    theta = jax.tree_util.tree_map(as64, theta)
    zs, as_, jacobians, G = _forward_arrays(theta, as64(X), as64(Y), spec.activations, spec.cost)
    host = lambda seq: [None, *(np.asarray(v) for v in seq)]  # noqa: E731
    return _Pass(
        W=host(theta.W),
        b=host(theta.b),
        Z=host(zs),
        A=[np.asarray(v) for v in as_],
        J=host(jacobians),
        G=np.asarray(G),
    )


def _rows_times(V: np.ndarray, J: np.ndarray) -> np.ndarray:
    """Row i of the result is V[i] @ J[i]."""
    return np.einsum("im,imn->in", V, J)


def _square(J: np.ndarray) -> bool:
    return J.shape[1] == J.shape[2]


def _backprop(
    p: _Pass,
    *,
    jacobian: Callable[[int], np.ndarray | None] | None = None,
    back_through_weights: Callable[[np.ndarray, int], np.ndarray | None] | None = None,
    weight_input: Callable[[int], np.ndarray | None] | None = None,
) -> list[np.ndarray] | None:
    """Eqs. 4.1-4.4, with optional replacements of one ingredient each.

    Args:
      p: the forward pass.
      jacobian: l -> the Jac_{i,l} to use (N, m, n) instead of p.J[l].
      back_through_weights: (grad_Z_l, l) -> what replaces grad_Z_l @ W_l.
      weight_input: l -> what replaces A_{l-1} in eq. 4.3.

    Returns:
      [grad_W_1..grad_W_L, grad_b_1..grad_b_L], or None when a replacement
      does not fit this network's shapes (the mistake cannot happen here).
    """
    L = p.L
    jac = lambda l: p.J[l] if jacobian is None else jacobian(l)  # noqa: E731
    J_L = jac(L)
    if J_L is None or J_L.shape[1] != p.G.shape[1]:
        return None
    grad_Z = _rows_times(p.G, J_L)  # eq. 4.1
    grad_W, grad_b = [None] * (L + 1), [None] * (L + 1)
    for l in range(L, 0, -1):
        A_prev = p.A[l - 1] if weight_input is None else weight_input(l)
        if A_prev is None or A_prev.shape != p.A[l - 1].shape:
            return None
        grad_W[l] = grad_Z.T @ A_prev  # eq. 4.3
        grad_b[l] = grad_Z.sum(axis=0)  # eq. 4.4
        if l > 1:
            if back_through_weights is None:
                grad_A = grad_Z @ p.W[l]
            else:
                grad_A = back_through_weights(grad_Z, l)
            J_prev = jac(l - 1)
            if grad_A is None or J_prev is None or grad_A.shape[1] != J_prev.shape[1]:
                return None
            grad_Z = _rows_times(grad_A, J_prev)  # eq. 4.2
            if grad_Z.shape != p.Z[l - 1].shape:
                return None
    return grad_W[1:] + grad_b[1:]


def _identity_jacobian(p: _Pass, l: int) -> np.ndarray | None:
    J = p.J[l]
    if not _square(J):
        return None
    return np.broadcast_to(np.eye(J.shape[1]), J.shape)


def _diagonal_jacobian(p: _Pass, l: int) -> np.ndarray | None:
    J = p.J[l]
    if not _square(J):
        return J
    return np.einsum("imm->im", J)[:, :, None] * np.eye(J.shape[1])


def _mistake_no_activation_derivative(p: _Pass) -> list[np.ndarray] | None:
    # Eq. 3.2 without Jac_{l-1}^T: the hidden layers' Jacobians become I.
    return _backprop(p, jacobian=lambda l: p.J[l] if l == p.L else _identity_jacobian(p, l))


def _mistake_no_output_jacobian(p: _Pass) -> list[np.ndarray] | None:
    # Eq. 3.1 without Jac_L^T: grad_z_L = grad_yhat C.
    return _backprop(p, jacobian=lambda l: _identity_jacobian(p, l) if l == p.L else p.J[l])


def _mistake_diagonal_jacobian(p: _Pass) -> list[np.ndarray] | None:
    # Every Jacobian replaced by its diagonal, as if sigma were pointwise.
    layers = range(1, p.L + 1)
    if all(np.array_equal(_diagonal_jacobian(p, l), p.J[l]) for l in layers):
        return None  # every Jacobian already is diagonal: nothing to tell apart
    return _backprop(p, jacobian=lambda l: _diagonal_jacobian(p, l))


def _mistake_preactivation_in_weight_gradient(p: _Pass) -> list[np.ndarray] | None:
    # Eq. 3.3 with z_{l-1} where a_{l-1} = sigma_{l-1}(z_{l-1}) belongs (l >= 2).
    if p.L < 2:
        return None
    return _backprop(p, weight_input=lambda l: p.A[0] if l == 1 else p.Z[l - 1])


def _mistake_weight_not_transposed(p: _Pass) -> list[np.ndarray] | None:
    # Eq. 3.2 with W_l where W_l^T belongs; only fits a square W_l.
    def back(grad_Z: np.ndarray, l: int) -> np.ndarray | None:
        W = p.W[l]
        return grad_Z @ W.T if W.shape[0] == W.shape[1] else None

    if p.L < 2:
        return None
    return _backprop(p, back_through_weights=back)


def _mistake_weight_omitted(p: _Pass) -> list[np.ndarray] | None:
    # Eq. 3.2 without W_l^T; fits when n_l = m_{l-1}.
    def back(grad_Z: np.ndarray, l: int) -> np.ndarray | None:
        return grad_Z if p.W[l].shape[0] == p.W[l].shape[1] else None

    if p.L < 2:
        return None
    return _backprop(p, back_through_weights=back)


def _mistake_jacobian_off_by_one(p: _Pass) -> list[np.ndarray] | None:
    # Eq. 3.2 with Jac_l (the layer above) where Jac_{l-1} belongs.
    if p.L < 2:
        return None

    def jac(l: int) -> np.ndarray | None:
        if l == p.L:
            return p.J[l]
        above = p.J[l + 1]
        return above if above.shape == p.J[l].shape else None

    return _backprop(p, jacobian=jac)


@dataclasses.dataclass(frozen=True)
class Mistake:
    """A classic mistake: backprop recomputed with it, and what it means."""

    plant: Callable[[_Pass], list[np.ndarray] | None]
    explanation: str


#: The classic mistakes the checker recognizes by recomputing backprop with
#: each planted; the explanation is formatted with l (the entry layer), L,
#: and the activation names.
MISTAKES: dict[str, Mistake] = {
    "diagonal_jacobian": Mistake(
        _mistake_diagonal_jacobian,
        "the gradient equals backprop with each non-pointwise Jacobian taken as "
        "diagonal ({nonpointwise}), as if the activation were pointwise; its "
        "off-diagonal entries matter — softmax's Jacobian is diag(s) - s s^T, not "
        "diag(s (1 - s)) (Exercise 1d)",
    ),
    "no_activation_derivative": Mistake(
        _mistake_no_activation_derivative,
        "the gradient equals backprop without the activation's derivative in the "
        "recursion: eq. 3.2 / 4.2 is grad_z_{{l-1}} = Jac_{{l-1}}^T W_l^T grad_z_l, and "
        "the candidate drops Jac_{{l-1}}^T (sigma_{{l-1}}'s derivative) — first at "
        "layer {l}, sigma_{l} = {sigma_l}",
    ),
    "no_output_jacobian": Mistake(
        _mistake_no_output_jacobian,
        "the gradient equals backprop with grad_z_L = grad_yhat C(-, y): eq. 3.1 / 4.1 "
        "multiplies the cost gradient by Jac_L^T, the Jacobian of sigma_L = {sigma_L}",
    ),
    "preactivation_in_weight_gradient": Mistake(
        _mistake_preactivation_in_weight_gradient,
        "the gradient equals backprop with z_{{l-1}} where a_{{l-1}} belongs in the "
        "weight gradient: eq. 3.3 / 4.3 is grad_W_l = grad_z_l a_{{l-1}}^T with "
        "a_{{l-1}} = sigma_{{l-1}}(z_{{l-1}}), the post-activation",
    ),
    "weight_not_transposed": Mistake(
        _mistake_weight_not_transposed,
        "the gradient equals backprop with W_l where W_l^T belongs in the recursion: "
        "eq. 3.2 is grad_z_{{l-1}} = Jac_{{l-1}}^T W_l^T grad_z_l (in rows, eq. 4.2, "
        "grad_Z_l @ W_l); a square W_l hides the missing transpose",
    ),
    "weight_omitted": Mistake(
        _mistake_weight_omitted,
        "the gradient equals backprop without W_l^T in the recursion: eq. 3.2 is "
        "grad_z_{{l-1}} = Jac_{{l-1}}^T W_l^T grad_z_l",
    ),
    "jacobian_off_by_one": Mistake(
        _mistake_jacobian_off_by_one,
        "the gradient equals backprop with the Jacobian of the layer above, Jac_l, "
        "where Jac_{{l-1}} belongs: an off-by-one layer index in eq. 3.2 / 4.2 "
        "(grad_z_{{l-1}} = Jac_{{l-1}}^T W_l^T grad_z_l, the derivative at z_{{l-1}})",
    ),
}


def _mistake_errors(p: _Pass, got: list[np.ndarray]) -> dict[str, float]:
    """Relative error of the candidate against each mistake that fits the network."""
    errors = {}
    for name, mistake in MISTAKES.items():
        planted = mistake.plant(p)
        if planted is not None:
            errors[name] = relative_error(got, planted)
    return errors


# --------------------------------------------------------------------------
# Diagnosis rules.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Rule:
    """One diagnosis: a pure function of the observation, None when it does not apply.

    ``specific`` rules name a mistake; the others only say where it enters
    and are reported when no specific rule applies.
    """

    name: str
    explain: Callable[[Observation], str | None]
    specific: bool = True


def _format_factor(f: float, n: int) -> str:
    if math.isclose(f, 1 / n):
        return f"1/N = 1/{n}"
    if math.isclose(f, -1 / n):
        return f"-1/N = -1/{n}"
    if math.isclose(f, n):
        return f"N = {n}"
    return f"{f:.6g}"


def _rule_sign_flipped(o: Observation) -> str | None:
    if o.common_factor() is not None and math.isclose(o.common_factor(), -1.0):
        return (
            "every W_l and b_l is the exact negative of the gradient: one sign flipped "
            "for all layers — e.g. the cost gradient written y - y_hat instead of "
            "y_hat - y, or -grad (the descent step) returned as the gradient"
        )
    return None


def _rule_mean_instead_of_sum(o: Observation) -> str | None:
    f = o.common_factor()
    if f is None or not (math.isclose(f, 1 / o.batch_size) or math.isclose(f, o.batch_size)):
        return None
    if math.isclose(f, o.batch_size):
        return (
            f"every layer is off by the factor N = {o.batch_size}: the candidate "
            "multiplies by the batch size somewhere; the loss is the SUM of the rows' "
            "losses (eqs. 4.3, 4.4)"
        )
    return (
        f"every layer is off by the factor 1/N = 1/{o.batch_size}: the candidate "
        "averages over the batch (mean vs sum). The loss here is the SUM over rows, "
        "the notes' extended cost, so grad_W_l = grad_Z_l^T A_{l-1} and grad_b_l = "
        "grad_Z_l^T 1_N (eqs. 4.3, 4.4) carry no 1/N"
    )


def _rule_mse_half(o: Observation) -> str | None:
    f = o.common_factor()
    if o.cost != "mse" or f is None:
        return None
    if math.isclose(f, 2.0):
        return (
            "every layer is off by the factor 2: here MSE is 1/2 ||y_hat - y||^2, "
            "whose gradient is y_hat - y; the candidate differentiates ||y_hat - y||^2 "
            "(gradient 2 (y_hat - y)) — the 1/2 convention"
        )
    if math.isclose(f, 0.5):
        return (
            "every layer is off by the factor 1/2: here MSE is 1/2 ||y_hat - y||^2 "
            "with gradient y_hat - y; the candidate halves it once more — the 1/2 "
            "convention"
        )
    return None


def _rule_common_factor(o: Observation) -> str | None:
    f = o.common_factor()
    if f is None or any(
        r(o) for r in (_rule_sign_flipped, _rule_mean_instead_of_sum, _rule_mse_half)
    ):
        return None
    return (
        f"every layer is off by the same factor {_format_factor(f, o.batch_size)}: a "
        "constant scale, e.g. in the cost gradient of eq. 3.1 / 4.1, multiplies "
        "everything below it"
    )


def _rule_bias_only(o: Observation) -> str | None:
    wrong = o.wrong
    if not wrong or any(r.kind != "b" for r in wrong):
        return None
    factors = {r.factor for r in wrong}
    if len(factors) == 1 and (f := factors.pop()) is not None and math.isclose(f, 1 / o.batch_size):
        return (
            f"only the bias gradients are wrong, by the factor 1/N = 1/{o.batch_size}: "
            "they average grad_Z_l over the rows; eq. 4.4 sums them, grad_b_l = "
            "grad_Z_l^T 1_N"
        )
    return (
        "only the bias gradients are wrong while every W_l is right, so grad_z_l is "
        "right: the mistake is in eq. 3.4 / 4.4, grad_b_l = grad_z_l (for a batch, "
        "the column sums of grad_Z_l)"
    )


def _rule_transposed(o: Observation) -> str | None:
    names = [r.name for r in o.leaves if r.transposed]
    if not names:
        return None
    l = names[0].split("_")[1]
    return (
        f"{', '.join(names)} came back transposed: grad_W_l = grad_z_l a_{{l-1}}^T "
        f"(eq. 3.3; for a batch grad_Z_l^T A_{{l-1}}, eq. 4.3) has W_l's shape "
        f"(n_l, m_{{l-1}}); a square W_{l} hides it from the shapes"
    )


def _mistake_rule(name: str) -> Callable[[Observation], str | None]:
    def explain(o: Observation) -> str | None:
        if not o.matches(name):
            return None
        l = o.entry_layer or o.num_layers
        nonpointwise = [a for a in o.activations if a in ("softmax", "radial_sigmoid")]
        return MISTAKES[name].explanation.format(
            l=l,
            L=o.num_layers,
            sigma_l=o.activations[l - 1],
            sigma_L=o.activations[-1],
            nonpointwise=", ".join(dict.fromkeys(nonpointwise)) or "none",
        )

    return explain


def _rule_weight_wrong_bias_right(o: Observation) -> str | None:
    l = o.entry_layer
    if l is None or o.leaf(f"W_{l}").ok or not o.leaf(f"b_{l}").ok:
        return None
    a_prev = "the input X (a_0 = x)" if l == 1 else f"a_{l - 1} = sigma_{l - 1}(z_{l - 1})"
    return (
        f"b_{l} is right, so grad_z_{l} is right, but W_{l} is wrong: the mistake is in "
        f"eq. 3.3 / 4.3, grad_W_{l} = grad_z_{l} a_{l - 1}^T — the vector it multiplies "
        f"should be {a_prev} (not z_{l - 1}, nor another layer's activations), and the "
        f"product must have W_{l}'s orientation"
    )


def _rule_output_layer(o: Observation) -> str | None:
    L = o.num_layers
    if o.entry_layer != L or o.leaf(f"b_{L}").ok:
        return None
    return (
        f"the output layer L = {L} is already wrong: eq. 3.1 / 4.1, grad_z_L = "
        f"Jac_L^T grad_yhat C(-, y) — check the gradient of the cost ({o.cost}) and the "
        f"Jacobian of sigma_L = {o.activations[-1]}"
    )


def _rule_recursion(o: Observation) -> str | None:
    l = o.entry_layer
    if l is None or l == o.num_layers or o.leaf(f"b_{l}").ok:
        return None
    return (
        f"layers {l + 1}..{o.num_layers} are right and layer {l} is wrong: the mistake "
        f"enters in the recursion eq. 3.2 / 4.2 from layer {l + 1} to layer {l}, "
        f"grad_z_{l} = Jac_{l}^T W_{l + 1}^T grad_z_{l + 1} — check the Jacobian of "
        f"sigma_{l} = {o.activations[l - 1]} (its derivative, evaluated at z_{l}), the "
        f"W_{l + 1}^T, and the layer indices"
    )


#: The diagnosis table, in the order its findings are reported.
RULES: tuple[Rule, ...] = (
    Rule("sign_flipped", _rule_sign_flipped),
    Rule("mean_instead_of_sum", _rule_mean_instead_of_sum),
    Rule("mse_half_convention", _rule_mse_half),
    Rule("common_factor", _rule_common_factor),
    Rule("bias_only", _rule_bias_only),
    Rule("transposed_weight_gradient", _rule_transposed),
    *(Rule(name, _mistake_rule(name)) for name in MISTAKES),
    Rule("weight_wrong_bias_right", _rule_weight_wrong_bias_right, specific=False),
    Rule("output_layer", _rule_output_layer, specific=False),
    Rule("recursion", _rule_recursion, specific=False),
)


def diagnose(observation: Observation) -> list[tuple[str, str]]:
    """The (rule name, finding) of every rule that applies.

    Specific rules (a named mistake) are reported when any applies; otherwise
    the structural rules, which say where the mistake enters.
    """
    found = [(r, r.explain(observation)) for r in RULES]
    found = [(r, text) for r, text in found if text is not None]
    specific = [(r.name, text) for r, text in found if r.specific]
    return specific or [(r.name, text) for r, text in found]


# --------------------------------------------------------------------------
# The check.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _SeedResult:
    seed: int
    theta: Params
    X: Any
    Y: Any
    got: list[np.ndarray]
    expected: list[np.ndarray]
    errors: list[float]


def _leaf_names(num_layers: int) -> list[str]:
    layers = range(1, num_layers + 1)
    return [f"W_{l}" for l in layers] + [f"b_{l}" for l in layers]


def _observe(result: _SeedResult, spec: _Spec) -> Observation:
    names = _leaf_names(spec.num_layers)
    reports = {
        name: _leaf_report(name, g, e, error, spec)
        for name, g, e, error in zip(names, result.got, result.expected, result.errors, strict=True)
    }
    ordered = tuple(
        reports[f"{kind}_{l}"] for l in range(1, spec.num_layers + 1) for kind in ("W", "b")
    )
    forward = _forward_pass(result.theta, result.X, result.Y, spec)
    return Observation(
        leaves=ordered,
        batch_size=spec.batch_size,
        activations=tuple(_name(a) for a in spec.activations),
        cost=spec.cost.name,
        mistakes=_mistake_errors(forward, result.got),
        tolerance=spec.tolerance,
    )


def _format_table(observation: Observation, shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
    lines = ["  leaf   shape       rel. error   worst element: expected vs got"]
    for r in sorted(observation.leaves, key=lambda r: (-r.layer, r.kind)):
        status = "ok" if r.ok else "WRONG"
        line = f"  {r.name:<6} {shapes[r.name]!s:<11} {r.error:<10.3g}  {status}"
        if not r.ok:
            line += f"  {list(r.index)}: expected {r.expected:.6g}, got {r.got:.6g}"
            if r.factor is not None:
                line += f"  (got = {_format_factor(r.factor, observation.batch_size)} x expected)"
        lines.append(line)
    return lines


def _reproduction(seed: int, spec: _Spec) -> list[str]:
    acts = spec.describe_activations()
    call = (
        f"theta, X, Y = reference.checker.draw_case({seed}, activations={acts}, "
        f"cost={spec.cost.name!r}, dims={spec.dims}, batch_size={spec.batch_size}, "
        f"dtype={spec.dtype!r})"
    )
    lines = ["Reproduce:", "    import jax, manualgrad, reference"]
    if spec.dtype == "float64":
        lines.append('    jax.config.update("jax_enable_x64", True)')
    lines += [
        f"    {call}",
        f"    # that is: key_theta, key_x, key_y = jax.random.split(jax.random.PRNGKey({seed}), 3)",
        f"    #          theta = manualgrad.init_params(key_theta, {spec.dims}, {acts}, "
        f"dtype={spec.dtype!r})",
        f"    expected = reference.grad(theta, X, Y, {acts}, {spec.cost.name!r})",
        "    got = candidate(theta, X, Y)",
    ]
    return lines


def _right_above(entry: int, num_layers: int) -> str:
    if entry == num_layers:
        return "."
    if entry + 1 == num_layers:
        return f"; layer {num_layers} is right."
    return f"; layers {entry + 1}..{num_layers} are right."


def _message(failing: list[_SeedResult], spec: _Spec) -> str:
    result = failing[0]
    observation = _observe(result, spec)
    shapes = {
        name: g.shape for name, g in zip(_leaf_names(spec.num_layers), result.got, strict=True)
    }
    entry = observation.entry_layer
    wrong = [r.name for r in observation.wrong]
    lines = [
        f"check_backprop: the candidate's gradient is wrong in {len(failing)} of "
        f"{len(spec.seeds)} seeds (seeds {[r.seed for r in failing]}); {spec.dtype}, "
        f"tolerance {spec.tolerance:g} relative.",
        f"Network: dims {spec.dims}, activations {spec.describe_activations()}, cost "
        f"{spec.cost.name!r}, a batch of N = {spec.batch_size} rows; the loss is the SUM "
        f"of the rows' losses.",
        "",
        f"Seed {result.seed}, layers from L = {spec.num_layers} down:",
        *_format_table(observation, shapes),
        "",
        f"Wrong: {', '.join(wrong)}. Backprop runs from layer L = {spec.num_layers} down, "
        f"so the mistake enters at layer {entry}, the outermost wrong layer"
        + _right_above(entry, spec.num_layers),
        "",
        "Diagnosis:",
        *(f"  - {text} (rule: {name})." for name, text in diagnose(observation)),
        "",
        *_reproduction(result.seed, spec),
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def _x64(enabled: bool) -> Iterator[None]:
    if enabled:
        with jax.enable_x64(True):
            yield
    else:
        yield


def _run_seed(candidate: Candidate, seed: int, spec: _Spec) -> _SeedResult:
    __tracebackhide__ = True
    with _x64(spec.dtype == "float64"):
        theta, X, Y = draw_case(
            seed,
            activations=spec.activations,
            cost=spec.cost,
            dims=spec.dims,
            batch_size=spec.batch_size,
            dtype=spec.dtype,
        )
        got = _as_leaves(candidate(theta, X, Y), theta, spec)
    with jax.enable_x64(True):
        # float64 on the very inputs the candidate saw: a float32 check then
        # measures only the candidate's own rounding.
        as64 = lambda v: jnp.asarray(v, dtype=jnp.float64)  # noqa: E731
        expected = reference_grad(
            jax.tree_util.tree_map(as64, theta), as64(X), as64(Y), spec.activations, spec.cost
        )
        expected = [np.asarray(v) for v in jax.tree_util.tree_leaves(expected)]
    errors = leaf_relative_errors(got, expected)
    return _SeedResult(seed, theta, X, Y, got, expected, errors)


def check_backprop(
    candidate: Candidate,
    *,
    activations: Sequence[str | Activation],
    cost: str | Cost,
    dims: Sequence[int],
    batch_size: int = 8,
    seeds: Sequence[int] = (0, 1, 2),
    dtype: DTypeLike = "float64",
) -> None:
    """Checks a hand-written gradient function against jax.grad.

    **The batch loss is the SUM of the rows' losses** (the notes' extended
    cost), not their mean: the candidate must return the gradient of
    sum_i C(F_theta(X[i]), Y[i]).

    For each seed the checker draws theta with ``manualgrad.init_params``, a
    batch X and targets Y that the cost is defined on (see :func:`draw_case`),
    calls ``candidate(theta, X, Y)`` and compares each W_l and b_l with
    :func:`reference.grad` computed in float64 on the same inputs. float64 is
    enabled for the duration of a float64 check, so nothing needs configuring.

    Args:
      candidate: ``candidate(theta, X, Y)`` with theta a ``manualgrad.Params``
        (``theta.W[l-1]`` is W_l of shape (n_l, m_{l-1}), ``theta.b[l-1]`` is
        b_l of shape (n_l,)), X of shape (N, n_0) and Y of shape (N, m_L), all
        JAX arrays (a NumPy implementation converts with ``np.asarray``).
        Returns the gradient as ``Params`` or as a list of (W_l, b_l) pairs,
        NumPy or JAX arrays shaped like theta's.
      activations: sigma_1..sigma_L, names or manualgrad activations.
      cost: a name ("mse" = 1/2 ||y_hat - y||^2, "cross_entropy",
        "binary_cross_entropy", "huber") or a manualgrad cost.
      dims: (n_0, n_1, ..., n_L).
      batch_size: N, the rows of each batch.
      seeds: one random network and batch per seed.
      dtype: "float64" (tolerance 1e-10) or "float32" (1e-5), relative.

    Returns:
      None when the candidate agrees with jax.grad on every seed.

    Raises:
      AssertionError: the candidate's gradient is wrong or malformed; the
        message names the wrong W_l / b_l, the worst element, the seed and
        how to reproduce it, and a diagnosis.
      ValueError: the arguments describe no valid check (an unknown
        activation or cost, dims and activations of different lengths, a
        cost undefined on the output activation's range).
    """
    __tracebackhide__ = True
    if not callable(candidate):
        raise TypeError(f"check_backprop: candidate must be callable, got {candidate!r}")
    spec = _spec(activations, cost, dims, batch_size, seeds, dtype)
    results = [_run_seed(candidate, seed, spec) for seed in spec.seeds]
    failing = [r for r in results if max(r.errors) > spec.tolerance]
    if failing:
        with jax.enable_x64(True):
            message = _message(failing, spec)
        raise AssertionError(message)
