"""What the benchmark times: the networks, their inputs, the entries, their flops.

A configuration is a batch size N, a width n (every layer, input and output
included, is n wide), a depth L and a hidden activation. Layers 1..L-1 use
the hidden activation; layer L is softmax with cross-entropy, the output
layer whose gradient has a closed form (``CrossEntropy.fused_grad_z``).

The whole grid, N x width x depth x hidden, is 144 networks; on a 2-core
CPU that takes hours. The default sweep varies one axis at a time through a
centre, adds the width axis at N = 1 (where Exercise 4's O(L n^2) for
Algorithm 1 applies), and adds corners of the (N, width) square.

Each entry is a function of (theta, x, y) that returns the gradient as
``Params``, compiled with ``jax.jit`` from outside, so the manualgrad side
and the autodiff side are timed the same way: one compiled XLA program per
entry, no Python validation inside the timed call. The autodiff side is the
same loss written in plain JAX (``A @ W.T + b`` layer by layer, softmax with
cross-entropy in the usual stable ``log_softmax`` form), the batch loss
summed over rows, the notes' extended cost.

Forms:

* ``sample``: one sample x (n_0,), y (n_L,); only at N = 1.
* ``batch``: X (N, n_0), Y (N, n_L), the loss summed over rows.
* ``vmap``: a single-sample algorithm under ``jax.vmap`` over the rows,
  its per-row gradients summed; at N > 1.

Every entry is compared with jax.grad of the loss with the same inputs:
``sample`` with the single-sample loss, ``batch`` and ``vmap`` with the
summed batch loss. ``vmap`` entries are also compared with
``jax.vmap(jax.grad)`` summed, autodiff's own per-row computation.

Only the matrix products of backpropagation are counted as flops; the
activations, their Jacobians and the cost are O(N n) next to the O(N n^2)
products. For a layer with W_l of shape (n_l, n_{l-1}) and N rows:

* forward, Z_l = A_{l-1} W_l^T: 2 N n_l n_{l-1} flops;
* backward, grad W_l = grad_Z_l^T A_{l-1}: the same again;
* backward, grad A_{l-1} = grad_Z_l W_l: the same again, except for the
  first layer, whose input needs no gradient.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

import manualgrad
from benchmarks import peers
from manualgrad import DEFAULT_MAX_DENSE_BYTES, Params

BATCH_SIZES: tuple[int, ...] = (1, 64, 512, 4096)
WIDTHS: tuple[int, ...] = (64, 256, 1024)
DEPTHS: tuple[int, ...] = (2, 4, 8)
HIDDEN: tuple[str, ...] = ("relu", "sigmoid", "tanh", "softmax", "layer_norm")
OUTPUT_ACTIVATION = "softmax"
COST = "cross_entropy"

SweepName = Literal["tiny", "quick", "default", "full"]
SWEEPS: tuple[str, ...] = ("tiny", "quick", "default", "full")


@dataclasses.dataclass(frozen=True, order=True)
class Config:
    """One network and batch.

    Attributes:
      N: rows in the batch (1: a single sample).
      width: n, the width of every layer.
      depth: L, the number of layers.
      hidden: the activation of layers 1..L-1.
    """

    N: int
    width: int
    depth: int
    hidden: str

    @property
    def dims(self) -> tuple[int, ...]:
        """(n_0, ..., n_L), all equal to the width."""
        return (self.width,) * (self.depth + 1)

    @property
    def activations(self) -> tuple[str, ...]:
        """sigma_1..sigma_L: the hidden activation, then softmax."""
        return (self.hidden,) * (self.depth - 1) + (OUTPUT_ACTIVATION,)

    def as_dict(self) -> dict[str, object]:
        """The four fields, as the JSON rows carry them."""
        return {"N": self.N, "width": self.width, "depth": self.depth, "hidden": self.hidden}

    def __str__(self) -> str:
        return f"N={self.N} n={self.width} L={self.depth} {self.hidden}"


def _through(center: Config, **axes: tuple) -> list[Config]:
    """The centre and, for each named axis, the centre with that axis varied."""
    configs = [center]
    for field, values in axes.items():
        configs += [dataclasses.replace(center, **{field: value}) for value in values]
    return configs


def sweep(name: SweepName) -> tuple[Config, ...]:
    """The configurations of a sweep, sorted, without repeats.

    Args:
      name: "tiny" (seconds: a check of the whole pipeline), "quick" (under
        two minutes on 2 cores), "default" (one axis at a time through
        N=512, n=256, L=4, relu, plus corners) or "full" (the whole grid).

    Returns:
      The configurations, sorted.

    Raises:
      ValueError: an unknown sweep name.
    """
    if name == "tiny":
        configs = _through(Config(8, 16, 2, "tanh"), N=(1,))
    elif name == "quick":
        center = Config(64, 64, 2, "relu")
        configs = _through(center, N=(1, 512), width=(256,), depth=(4,), hidden=HIDDEN)
        configs += _through(Config(1, 64, 2, "relu"), width=(256,))
    elif name == "default":
        center = Config(512, 256, 4, "relu")
        configs = _through(center, N=BATCH_SIZES, width=WIDTHS, depth=DEPTHS, hidden=HIDDEN)
        configs += _through(Config(1, 256, 4, "relu"), width=WIDTHS)
        configs += [Config(N, n, 4, "relu") for N, n in ((4096, 64), (4096, 1024), (64, 1024))]
    elif name == "full":
        configs = [
            Config(*values) for values in itertools.product(BATCH_SIZES, WIDTHS, DEPTHS, HIDDEN)
        ]
    else:
        raise ValueError(f"unknown sweep {name!r}; valid sweeps are {', '.join(SWEEPS)}")
    return tuple(sorted(set(configs)))


_HEADLINE = (Config(512, 256, 4, "relu"), Config(1, 256, 4, "relu"), Config(4096, 256, 4, "relu"))
#: sweep -> the networks its headline repeats in fresh processes.
HEADLINE_NETWORKS: dict[str, tuple[Config, ...]] = {
    "tiny": (Config(8, 16, 2, "tanh"),),
    "quick": (Config(64, 64, 2, "relu"),),
    "default": _HEADLINE,
    "full": _HEADLINE,
}


def headline_networks(name: str, configs: Sequence[Config]) -> tuple[Config, ...]:
    """The networks of a run that its headline repeats in fresh processes.

    Args:
      name: the sweep's name ("custom" for networks given one by one).
      configs: the networks the run measured.

    Returns:
      The sweep's headline networks among ``configs``; for a custom run,
      its first network.
    """
    chosen = [config for config in HEADLINE_NETWORKS.get(name, ()) if config in configs]
    return tuple(chosen) or tuple(configs[:1])


def make_inputs(config: Config, dtype: str) -> tuple[Params, jax.Array, jax.Array]:
    """theta, X (N, n) and Y (N, n), rows of Y on the probability simplex.

    Drawn with NumPy, so no small XLA program is compiled per shape; W_l has
    entries of variance 1 / n_{l-1}, so activations stay of order one.

    Args:
      config: the network and batch size.
      dtype: the dtype of every array.

    Returns:
      (theta, X, Y), seeded by the configuration.
    """
    rng = np.random.default_rng(config.N * 1_000_003 + config.width * 101 + config.depth)
    dims = config.dims
    W = tuple(
        jnp.asarray(rng.standard_normal((n_out, n_in)) / np.sqrt(n_in), dtype)
        for n_in, n_out in itertools.pairwise(dims)
    )
    b = tuple(jnp.asarray(0.1 * rng.standard_normal(n), dtype) for n in dims[1:])
    X = jnp.asarray(rng.standard_normal((config.N, config.width)), dtype)
    logits = rng.standard_normal((config.N, config.width))
    Y = np.exp(logits - logits.max(axis=1, keepdims=True))
    Y = jnp.asarray(Y / Y.sum(axis=1, keepdims=True), dtype)
    return Params(W, b), X, Y


def backprop_flops(dims: Sequence[int], num_rows: int) -> int:
    """Matmul flops of one forward and backward pass.

    Args:
      dims: (n_0, n_1, ..., n_L).
      num_rows: N, the number of samples (1 for a single sample).

    Returns:
      sum over layers of 2 N n_l n_{l-1} times 3 (forward, weight gradient,
      input gradient), times 2 for the first layer.
    """
    total = 0
    for l in range(1, len(dims)):
        products = 3 if l > 1 else 2
        total += products * 2 * num_rows * dims[l] * dims[l - 1]
    return total


# The autodiff side: nothing below calls manualgrad.

#: The hidden activations of the benchmark, as plain JAX functions.
HIDDEN_FUNCTIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "softmax": lambda z: jax.nn.softmax(z, axis=-1),
    "layer_norm": lambda z: (
        (z - jnp.mean(z, axis=-1, keepdims=True))
        / jnp.sqrt(jnp.var(z, axis=-1, keepdims=True) + 1e-5)
    ),  # manualgrad.LayerNorm's eps
}

Affine = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


def rows_first(a: jax.Array, W: jax.Array, b: jax.Array) -> jax.Array:
    """``a @ W.T + b``: a batch (N, n_in) or one sample (n_in,), rows first."""
    return a @ W.T + (b[None, :] if a.ndim == 2 else b)


def columns(a: jax.Array, W: jax.Array, b: jax.Array) -> jax.Array:
    """``W @ a + b``: one sample as the notes' column vector."""
    return W @ a + b


def logits(theta: Params, a: jax.Array, hidden: str, affine: Affine = rows_first) -> jax.Array:
    """The network's output before its softmax: the hidden activation on layers 1..L-1.

    Args:
      theta: Params(W, b).
      a: a batch (N, n_0) or one sample (n_0,).
      hidden: the activation of every layer but the last.
      affine: how a layer's affine map is written.

    Returns:
      z_L, shaped like ``a`` with n_L columns.
    """
    phi = HIDDEN_FUNCTIONS[hidden]
    for l, (W, b) in enumerate(zip(theta.W, theta.b, strict=True), start=1):
        z = affine(a, W, b)
        a = phi(z) if l < len(theta.W) else z
    return a


def batch_loss(theta: Params, X: jax.Array, Y: jax.Array, hidden: str) -> jax.Array:
    """sum_i C(F_theta(X[i]), Y[i]) with softmax and cross-entropy at the output.

    Cross-entropy of the softmax is written in the usual stable form,
    ``-sum(Y * log_softmax(Z_L))``.

    Args:
      theta: Params(W, b).
      X: (N, n_0) inputs.
      Y: (N, n_L) targets.
      hidden: the activation of every layer but the last.

    Returns:
      The scalar loss.
    """
    return -jnp.sum(Y * jax.nn.log_softmax(logits(theta, X, hidden), axis=-1))


def batch_loss_unfused(theta: Params, X: jax.Array, Y: jax.Array, hidden: str) -> jax.Array:
    """:func:`batch_loss` written as the notes compose it: softmax, then -sum(y log a).

    autodiff then differentiates the log and the softmax apart, where the
    notes' eq. 3.1 gives their product in closed form, ``s * sum(y) - y``.
    """
    return -jnp.sum(Y * jnp.log(jax.nn.softmax(logits(theta, X, hidden), axis=-1)))


def sample_loss(theta: Params, x: jax.Array, y: jax.Array, hidden: str) -> jax.Array:
    """C(F_theta(x), y) for one sample x (n_0,) and target y (n_L,), layers as ``W @ a``."""
    return -jnp.sum(y * jax.nn.log_softmax(logits(theta, x, hidden, columns)))


def sample_loss_rows(theta: Params, x: jax.Array, y: jax.Array, hidden: str) -> jax.Array:
    """:func:`sample_loss` with the layers written rows first, ``a @ W.T``, as for a batch."""
    return -jnp.sum(y * jax.nn.log_softmax(logits(theta, x, hidden)))


Loss = Callable[[Params, jax.Array, jax.Array, str], jax.Array]
Gradient = Callable[[Params, jax.Array, jax.Array], Params]


def grad_fn(loss: Loss, hidden: str) -> Gradient:
    """jax.grad of ``loss`` with respect to theta."""
    return jax.grad(lambda theta, x, y: loss(theta, x, y, hidden))


def vjp_fn(loss: Loss, hidden: str) -> Gradient:
    """The same gradient as the pullback of the cotangent 1 through ``jax.vjp``."""

    def gradient(theta: Params, x: jax.Array, y: jax.Array) -> Params:
        value, pullback = jax.vjp(lambda t: loss(t, x, y, hidden), theta)
        (grads,) = pullback(jnp.ones_like(value))
        return grads

    return gradient


def per_example_grad_fn(hidden: str) -> Gradient:
    """jax.vmap of the single-sample jax.grad, summed over the batch.

    The autodiff counterpart of a single-sample algorithm under jax.vmap:
    one gradient per row, then their sum.
    """
    return vmapped_sum(grad_fn(sample_loss, hidden))


def vmapped_sum(gradient: Gradient) -> Gradient:
    """A single-sample gradient under ``jax.vmap`` over the rows, summed over them."""
    per_row = jax.vmap(gradient, in_axes=(None, 0, 0))
    return lambda theta, X, Y: sum_rows(per_row(theta, X, Y))


def sum_rows(tree: Params) -> Params:
    """Sums every leaf over its leading (batch) axis."""
    return jax.tree.map(lambda leaf: jnp.sum(leaf, axis=0), tree)


def products_alone(theta: Params, x: jax.Array) -> tuple[jax.Array, ...]:
    """Every matrix product of one forward and backward pass at its shapes, and nothing else.

    The limit of the network: no bias, activation, derivative or cost, only
    the products with their data dependencies. Forward A_l = A_{l-1} W_l^T;
    the backward pass starts from A_L in place of grad_Z_L and makes, per
    layer, grad_W_l = G^T A_{l-1} and (but for layer 1) G <- G W_l: the
    2 N n^2 (3L - 1) flops of :func:`backprop_flops`. One sample (x 1-D) is
    written as the algorithms write it: ``W @ a``, ``g @ W`` and an outer
    product.

    Args:
      theta: Params(W, b); b is not used.
      x: a batch (N, n_0) or one sample (n_0,).

    Returns:
      The weight products, layer L first.
    """
    rows = x.ndim == 2
    # Each product feeds the next through an optimization barrier, so XLA
    # computes it as written: left free, it moves transposes across chained
    # products, which on the CPU made the products alone slower than a gradient.
    settle = jax.lax.optimization_barrier
    A = [x]
    for W in theta.W:
        A.append(settle(A[-1] @ W.T if rows else W @ A[-1]))
    G, products = A[-1], []
    for l in range(len(theta.W), 0, -1):
        products.append(G.T @ A[l - 1] if rows else jnp.outer(G, A[l - 1]))
        if l > 1:
            G = settle(G @ theta.W[l - 1])
    return tuple(products)


# The entries of one configuration.

GRAD = "jax.grad"
GRAD_COPY = "jax.grad, second copy"
GRAD_UNFUSED = "jax.grad, log(softmax)"
GRAD_ROWS = "jax.grad, a @ W.T"
VJP = "jax.vjp"
PER_EXAMPLE = "jax.vmap(jax.grad)"
MANUALGRAD = "manualgrad"
#: Every peer an entry can name, in the order of the tables.
PEERS: tuple[str, ...] = (MANUALGRAD, GRAD, VJP, PER_EXAMPLE, *peers.NAMES)


def algorithm_name(number: int) -> str:
    """ "Algorithm k", the name of the notes' Algorithm k in the rows."""
    return f"Algorithm {number}"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One timed function.

    Attributes:
      name: "Algorithm k", a JAX baseline's name or a peer's.
      peer: who computes it, one of :data:`PEERS`.
      algorithm: the notes' number, None for the others.
      mode: "structured" or "dense", None for the others.
      form: "sample", "batch" or "vmap".
      fn: (theta, x, y) -> Params, not yet jitted; None for a peer outside JAX.
      args: (theta, x, y) for this form.
      refusal: why the entry is not run (the dense budget), else None.
      plain_call: the public function called without an outer jit, for the
        overhead of its Python-side checks; None where not measured.
      outside: a peer outside JAX, called as it is; None for JAX entries.
    """

    name: str
    peer: str
    algorithm: int | None
    mode: str | None
    form: str
    fn: Gradient | None
    args: tuple
    refusal: str | None = None
    plain_call: Callable[[], object] | None = None
    outside: peers.Peer | None = None

    @property
    def key(self) -> tuple[str, str | None, str]:
        """(name, mode, form): unique within one configuration."""
        return (self.name, self.mode, self.form)


def dense_refusal(theta: Params, num_rows: int, max_dense_bytes: int | None, where: str) -> str:
    """The library's own budget message for ``num_rows`` rows, or "" if within budget."""
    try:
        manualgrad.check_dense_budget(theta, num_rows, max_dense_bytes, where)
    except ValueError as error:
        return str(error)
    return ""


def make_entries(
    config: Config,
    theta: Params,
    X: jax.Array,
    Y: jax.Array,
    *,
    max_dense_bytes: int | None = DEFAULT_MAX_DENSE_BYTES,
    peer_names: Sequence[str] = peers.NAMES,
    dense: bool = True,
) -> list[Entry]:
    """Every algorithm in both Jacobian modes, the JAX baselines and the peers, for ``config``.

    Args:
      config: the network and batch size.
      theta: from :func:`make_inputs`.
      X: from :func:`make_inputs`.
      Y: from :func:`make_inputs`.
      max_dense_bytes: the dense mode's budget, passed to the algorithms.
      peer_names: the peers outside JAX to include, where installed.
      dense: whether to include the dense Jacobian mode.

    Returns:
      The JAX baselines first, then the peers outside JAX, then the
      algorithms in the notes' order.
    """
    acts, hidden = config.activations, config.hidden
    batch_args = (theta, X, Y)
    sample_args = (theta, X[0], Y[0])
    grad = grad_fn(batch_loss, hidden)
    entries = [
        _jax(GRAD, GRAD, "batch", grad, batch_args),
        _jax(GRAD_COPY, GRAD, "batch", grad, batch_args),
        _jax(VJP, VJP, "batch", vjp_fn(batch_loss, hidden), batch_args),
        _jax(GRAD_UNFUSED, GRAD, "batch", grad_fn(batch_loss_unfused, hidden), batch_args),
    ]
    if config.N == 1:
        sample_grad = grad_fn(sample_loss, hidden)
        entries += [
            _jax(GRAD, GRAD, "sample", sample_grad, sample_args),
            _jax(GRAD_COPY, GRAD, "sample", sample_grad, sample_args),
            _jax(VJP, VJP, "sample", vjp_fn(sample_loss, hidden), sample_args),
            _jax(GRAD_ROWS, GRAD, "sample", grad_fn(sample_loss_rows, hidden), sample_args),
        ]
    else:
        entries.append(
            _jax(PER_EXAMPLE, PER_EXAMPLE, "vmap", per_example_grad_fn(hidden), batch_args)
        )
    outside, _ = peers.make_peers(hidden, theta, X, Y, names=peer_names)
    entries += [
        Entry(peer.name, peer.name, None, None, "batch", None, batch_args, outside=peer)
        for peer in outside
    ]
    modes = manualgrad.JACOBIAN_MODES if dense else ("structured",)
    for number, algorithm in manualgrad.ALGORITHMS.items():
        for mode in modes:
            gradient = _algorithm_gradient(
                algorithm, acts, jacobian_mode=mode, max_dense_bytes=max_dense_bytes
            )
            if algorithm.batch:
                form, args = "batch", batch_args
            elif config.N == 1:
                form, args = "sample", sample_args
            else:
                form, args = "vmap", batch_args
            fn = vmapped_sum(gradient) if form == "vmap" else gradient
            refusal = None
            if form == "vmap" and mode == "dense":
                # Each vmapped call checks one row's Jacobians; the program holds N rows'.
                where = f"{algorithm.__name__} (Algorithm {number}) under jax.vmap"
                refusal = dense_refusal(theta, config.N, max_dense_bytes, where) or None
            plain_call = _bind(gradient, args) if form != "vmap" and mode == "structured" else None
            entries.append(
                Entry(
                    algorithm_name(number),
                    MANUALGRAD,
                    number,
                    mode,
                    form,
                    fn,
                    args,
                    refusal,
                    plain_call,
                )
            )
    return entries


def _algorithm_gradient(
    algorithm: manualgrad.Algorithm,
    activations: tuple[str, ...],
    *,
    jacobian_mode: str,
    max_dense_bytes: int | None,
) -> Gradient:
    """The algorithm as (theta, x, y) -> Params, closing over everything else."""

    def gradient(theta: Params, x: jax.Array, y: jax.Array) -> Params:
        return algorithm(
            theta,
            x,
            y,
            activations,
            COST,
            jacobian_mode=jacobian_mode,
            max_dense_bytes=max_dense_bytes,
        )

    return gradient


def baseline_form(form: str) -> str:
    """The form of the jax.grad an entry of ``form`` is compared with: vmap -> batch."""
    return "sample" if form == "sample" else "batch"


def _jax(name: str, peer: str, form: str, fn: Gradient, args: tuple) -> Entry:
    return Entry(name, peer, None, None, form, fn, args)


def _bind(fn: Callable[..., object], args: tuple) -> Callable[[], object]:
    return lambda: fn(*args)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Where the mathematics lets an algorithm beat jax.grad: one entry against another.

    Attributes:
      what: the mathematical point, e.g. "fused softmax/cross-entropy output (eq. 3.1)".
      entry: (name, mode, form) of the algorithm.
      against: (name, mode, form) of the autodiff entry it is compared with.
    """

    what: str
    entry: tuple[str, str | None, str]
    against: tuple[str, str | None, str]


def _comparisons() -> tuple[Comparison, ...]:
    fused = "fused softmax/cross-entropy output (eq. 3.1)"
    cached = "derivatives from cached outputs a_l"
    v_at_w = "single-sample products as v @ W"
    structured = "structured"
    found = [
        Comparison(fused, (algorithm_name(k), structured, "batch"), (GRAD_UNFUSED, None, "batch"))
        for k in (2, 5)
    ]
    found += [
        Comparison(cached, (algorithm_name(3), structured, "sample"), (GRAD, None, "sample")),
        Comparison(cached, (algorithm_name(3), structured, "vmap"), (PER_EXAMPLE, None, "vmap")),
    ]
    found += [
        Comparison(v_at_w, (algorithm_name(k), structured, "sample"), (GRAD_ROWS, None, "sample"))
        for k in (1, 3, 4)
    ]
    return tuple(found)


#: The rows of "where the mathematics beats jax.grad", wherever both entries exist.
COMPARISONS: tuple[Comparison, ...] = _comparisons()
