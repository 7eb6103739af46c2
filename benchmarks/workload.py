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
from manualgrad import DEFAULT_MAX_DENSE_BYTES, Params

BATCH_SIZES: tuple[int, ...] = (1, 64, 512, 4096)
WIDTHS: tuple[int, ...] = (64, 256, 1024)
DEPTHS: tuple[int, ...] = (2, 4, 8)
HIDDEN: tuple[str, ...] = ("relu", "sigmoid", "tanh", "softmax")
OUTPUT_ACTIVATION = "softmax"
COST = "cross_entropy"

SweepName = Literal["tiny", "quick", "default", "full"]
SWEEPS: tuple[str, ...] = ("tiny", "quick", "default", "full")

GRAD = "jax.grad"
VJP = "jax.vjp"
PER_EXAMPLE = "jax.vmap(jax.grad)"


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
}


def batch_loss(theta: Params, X: jax.Array, Y: jax.Array, hidden: str) -> jax.Array:
    """sum_i C(F_theta(X[i]), Y[i]) with softmax and cross-entropy at the output.

    Args:
      theta: Params(W, b).
      X: (N, n_0) inputs.
      Y: (N, n_L) targets.
      hidden: the activation of every layer but the last.

    Returns:
      The scalar loss.
    """
    phi = HIDDEN_FUNCTIONS[hidden]
    A = X
    for l, (W, b) in enumerate(zip(theta.W, theta.b, strict=True), start=1):
        Z = A @ W.T + b[None, :]
        A = phi(Z) if l < len(theta.W) else Z
    return -jnp.sum(Y * jax.nn.log_softmax(A, axis=-1))


def sample_loss(theta: Params, x: jax.Array, y: jax.Array, hidden: str) -> jax.Array:
    """C(F_theta(x), y) for one sample x (n_0,) and target y (n_L,).

    Args:
      theta: Params(W, b).
      x: (n_0,) input.
      y: (n_L,) target.
      hidden: the activation of every layer but the last.

    Returns:
      The scalar loss.
    """
    phi = HIDDEN_FUNCTIONS[hidden]
    a = x
    for l, (W, b) in enumerate(zip(theta.W, theta.b, strict=True), start=1):
        z = W @ a + b
        a = phi(z) if l < len(theta.W) else z
    return -jnp.sum(y * jax.nn.log_softmax(a))


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


# The entries of one configuration.


def algorithm_name(number: int) -> str:
    """ "Algorithm k", the name of the notes' Algorithm k in the rows."""
    return f"Algorithm {number}"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One timed function.

    Attributes:
      name: "Algorithm k" or a baseline's name.
      algorithm: the notes' number, None for a baseline.
      mode: "structured" or "dense", None for a baseline.
      form: "sample", "batch" or "vmap".
      fn: (theta, x, y) -> Params, not yet jitted.
      args: (theta, x, y) for this form.
      refusal: why the entry is not run (the dense budget), else None.
      plain_call: the public function called without an outer jit, for the
        overhead of its Python-side checks; None where not measured.
    """

    name: str
    algorithm: int | None
    mode: str | None
    form: str
    fn: Gradient
    args: tuple
    refusal: str | None = None
    plain_call: Callable[[], object] | None = None

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
) -> list[Entry]:
    """Every algorithm in both Jacobian modes, and the baselines, for ``config``.

    Args:
      config: the network and batch size.
      theta: from :func:`make_inputs`.
      X: from :func:`make_inputs`.
      Y: from :func:`make_inputs`.
      max_dense_bytes: the dense mode's budget, passed to the algorithms.

    Returns:
      Baselines first, then the algorithms in the notes' order.
    """
    acts, hidden = config.activations, config.hidden
    batch_args = (theta, X, Y)
    sample_args = (theta, X[0], Y[0])
    entries = [
        _baseline(GRAD, "batch", grad_fn(batch_loss, hidden), batch_args),
        _baseline(VJP, "batch", vjp_fn(batch_loss, hidden), batch_args),
    ]
    if config.N == 1:
        entries += [
            _baseline(GRAD, "sample", grad_fn(sample_loss, hidden), sample_args),
            _baseline(VJP, "sample", vjp_fn(sample_loss, hidden), sample_args),
        ]
    else:
        entries.append(_baseline(PER_EXAMPLE, "vmap", per_example_grad_fn(hidden), batch_args))
    for number, algorithm in manualgrad.ALGORITHMS.items():
        for mode in manualgrad.JACOBIAN_MODES:
            options = {"jacobian_mode": mode, "max_dense_bytes": max_dense_bytes}

            def gradient(theta, x, y, algorithm=algorithm, options=options):
                return algorithm(theta, x, y, acts, COST, **options)

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
                Entry(algorithm_name(number), number, mode, form, fn, args, refusal, plain_call)
            )
    return entries


def _baseline(name: str, form: str, fn: Gradient, args: tuple) -> Entry:
    return Entry(name, None, None, form, fn, args)


def _bind(fn: Callable[..., object], args: tuple) -> Callable[[], object]:
    return lambda: fn(*args)
