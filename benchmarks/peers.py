"""The peers outside JAX: a hand-written NumPy backprop, HIPS autograd, PyTorch.

Each peer computes the gradient of the benchmark's loss (softmax with
cross-entropy at the output, summed over the rows) on the same inputs as
the JAX entries, converted once, outside the timed call, to float32 NumPy
arrays or torch tensors:

* ``numpy``: backpropagation written by hand in NumPy, rows first, with the
  batch equations of the notes (eqs. 4.1-4.4): grad_Z_L = S * sum(Y) - Y,
  grad_W_l = grad_Z_l^T A_{l-1}, grad_b_l = grad_Z_l^T 1, grad_A_{l-1} =
  grad_Z_l W_l, then the hidden activation's derivative.
* ``autograd``: HIPS autograd's ``grad`` of the loss, on the same forward
  pass written with ``autograd.numpy``.
* ``torch.autograd``: ``torch.autograd.grad`` of the loss on the same
  forward pass in torch.
* ``torch manual``: the NumPy peer's backprop, line for line, in torch.

The forward pass and the hand-written backward pass are written once, over
a small table of array operations (:class:`ArrayOps`), and run with NumPy,
autograd or torch. torch is optional (the ``peers`` extra); a peer whose
package is missing is reported as skipped, with how to install it. torch's
intra-op threads are set to XLA's: every usable core.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable, Sequence
from types import ModuleType

import jax.numpy as jnp
import numpy as np

from manualgrad import Params

NUMPY = "numpy"
AUTOGRAD = "autograd"
TORCH_AUTOGRAD = "torch.autograd"
TORCH_MANUAL = "torch manual"
#: The peers of this module, in the order of the tables.
NAMES: tuple[str, ...] = (NUMPY, AUTOGRAD, TORCH_AUTOGRAD, TORCH_MANUAL)
#: peer -> the module it needs.
PACKAGES: dict[str, str] = {
    NUMPY: "numpy",
    AUTOGRAD: "autograd",
    TORCH_AUTOGRAD: "torch",
    TORCH_MANUAL: "torch",
}
INSTALL_HINT = 'pip install -e ".[peers]" (autograd, and a CPU build of torch)'

Array = object  # A NumPy array, an autograd box or a torch tensor.


#: The eps of the benchmark's layer normalization, manualgrad.LayerNorm's default.
LAYER_NORM_EPS = 1e-5


@dataclasses.dataclass(frozen=True)
class ArrayOps:
    """The array operations the forward and backward passes use, for one library.

    Every other operation they use (``@``, ``.T``, ``*``, ``-``, ``/``,
    ``.sum(axis)``, ``[:, None]``, comparison) is spelled the same in
    NumPy, autograd and torch.

    Attributes:
      relu: max(z, 0), elementwise.
      sigmoid: 1 / (1 + exp(-z)), elementwise.
      tanh: tanh, elementwise.
      softmax_rows: the softmax of every row.
      log_softmax_rows: the log-softmax of every row.
    """

    relu: Callable[[Array], Array]
    sigmoid: Callable[[Array], Array]
    tanh: Callable[[Array], Array]
    softmax_rows: Callable[[Array], Array]
    log_softmax_rows: Callable[[Array], Array]

    def hidden(self, name: str) -> Callable[[Array], Array]:
        """The hidden activation of that name."""
        return {
            "relu": self.relu,
            "sigmoid": self.sigmoid,
            "tanh": self.tanh,
            "softmax": self.softmax_rows,
            "layer_norm": layer_norm_rows,
        }[name]


def _row_scale(Z: Array) -> tuple[Array, Array]:
    """(Z - mean of its row, sqrt(var + eps) of the row as a column), in any of the libraries."""
    n = Z.shape[1]
    centred = Z - Z.sum(1)[:, None] / n
    return centred, ((centred * centred).sum(1)[:, None] / n + LAYER_NORM_EPS) ** 0.5


def layer_norm_rows(Z: Array) -> Array:
    """(z - mean) / sqrt(var + eps) of every row, written with operations all three spell alike."""
    centred, scale = _row_scale(Z)
    return centred / scale


def _shifted(xp: ModuleType, row_max: Callable[[Array], Array]) -> tuple[Callable, Callable]:
    """softmax and log-softmax of rows, shifted by a row maximum held constant.

    Both are unchanged by the shift, so its derivative is zero and the
    maximum may come from outside the differentiated computation.
    """

    def softmax_rows(Z: Array) -> Array:
        E = xp.exp(Z - row_max(Z)[:, None])
        return E / E.sum(1)[:, None]

    def log_softmax_rows(Z: Array) -> Array:
        shifted = Z - row_max(Z)[:, None]
        return shifted - xp.log(xp.exp(shifted).sum(1))[:, None]

    return softmax_rows, log_softmax_rows


def numpy_ops() -> ArrayOps:
    """The operations in NumPy."""
    softmax_rows, log_softmax_rows = _shifted(np, lambda Z: Z.max(1))
    return ArrayOps(
        relu=lambda Z: np.maximum(Z, 0),
        sigmoid=lambda Z: 1 / (1 + np.exp(-Z)),
        tanh=np.tanh,
        softmax_rows=softmax_rows,
        log_softmax_rows=log_softmax_rows,
    )


def autograd_ops() -> ArrayOps:
    """The operations in ``autograd.numpy``, kept in float32.

    autograd's derivatives of ``max`` and ``maximum`` come back in float64,
    so relu is written ``z * (z > 0)`` and the softmax shift is read off the
    untraced value.
    """
    anp = importlib.import_module("autograd.numpy")
    getval = importlib.import_module("autograd.tracer").getval
    softmax_rows, log_softmax_rows = _shifted(anp, lambda Z: np.max(getval(Z), 1))
    return ArrayOps(
        relu=lambda Z: Z * (Z > 0),
        sigmoid=lambda Z: 1 / (1 + anp.exp(-Z)),
        tanh=anp.tanh,
        softmax_rows=softmax_rows,
        log_softmax_rows=log_softmax_rows,
    )


def torch_ops(torch: ModuleType) -> ArrayOps:
    """The operations in torch."""
    return ArrayOps(
        relu=torch.relu,
        sigmoid=torch.sigmoid,
        tanh=torch.tanh,
        softmax_rows=lambda Z: torch.softmax(Z, 1),
        log_softmax_rows=lambda Z: torch.log_softmax(Z, 1),
    )


def forward(
    ops: ArrayOps, W: Sequence[Array], b: Sequence[Array], X: Array, hidden: str
) -> tuple[list[Array], list[Array]]:
    """The forward pass, rows first: Z_l = A_{l-1} W_l^T + b_l, A_l = sigma(Z_l).

    Args:
      ops: the library's operations.
      W: W_1..W_L.
      b: b_1..b_L.
      X: the batch, (N, n_0).
      hidden: the activation of layers 1..L-1; layer L is left as logits.

    Returns:
      (Z, A): Z[l-1] is Z_l; A[0] is X and A[l] is A_l, with A_L = Z_L.
    """
    phi = ops.hidden(hidden)
    Z, A = [], [X]
    for l, (W_l, b_l) in enumerate(zip(W, b, strict=True), start=1):
        Z.append(A[-1] @ W_l.T + b_l)
        A.append(phi(Z[-1]) if l < len(W) else Z[-1])
    return Z, A


def loss(
    ops: ArrayOps, W: Sequence[Array], b: Sequence[Array], X: Array, Y: Array, hidden: str
) -> Array:
    """The summed cross-entropy of the softmax of the output, for the autodiff peers."""
    _, A = forward(ops, W, b, X, hidden)
    return -(Y * ops.log_softmax_rows(A[-1])).sum()


def _hidden_backward(hidden: str, V: Array, Z: Array, A: Array) -> Array:
    """grad_Z from grad_A = V through the hidden activation (eq. 4.2), from Z or A."""
    if hidden == "relu":
        return V * (Z > 0)
    if hidden == "sigmoid":
        return V * A * (1 - A)
    if hidden == "tanh":
        return V * (1 - A * A)
    if hidden == "layer_norm":
        # Jac = (I - 1 1^T / n - a a^T / n) / s is symmetric: Jac^T v = Jac v.
        n = V.shape[1]
        _, scale = _row_scale(Z)
        return (V - V.sum(1)[:, None] / n - A * (V * A).sum(1)[:, None] / n) / scale
    # softmax: Jac^T v = s * (v - <v, s>) for each row.
    return A * (V - (V * A).sum(1)[:, None])


def backprop(
    ops: ArrayOps, W: Sequence[Array], b: Sequence[Array], X: Array, Y: Array, hidden: str
) -> tuple[list[Array], list[Array]]:
    """Backpropagation by hand, rows first, for the NumPy and torch manual peers.

    Args:
      ops: the library's operations.
      W: W_1..W_L.
      b: b_1..b_L.
      X: the batch, (N, n_0).
      Y: the targets, (N, n_L).
      hidden: the activation of layers 1..L-1.

    Returns:
      (grad W_1..W_L, grad b_1..b_L).
    """
    Z, A = forward(ops, W, b, X, hidden)
    L = len(W)
    G = ops.softmax_rows(A[L]) * Y.sum(1)[:, None] - Y  # grad_Z_L, eq. 4.1
    grad_W, grad_b = [None] * L, [None] * L
    for l in range(L, 0, -1):
        grad_W[l - 1] = G.T @ A[l - 1]  # eq. 4.3
        grad_b[l - 1] = G.sum(0)  # eq. 4.4
        if l > 1:
            G = _hidden_backward(hidden, G @ W[l - 1], Z[l - 2], A[l - 1])  # eq. 4.2
    return grad_W, grad_b


@dataclasses.dataclass(frozen=True)
class Peer:
    """A gradient outside JAX, bound to one configuration's inputs.

    Attributes:
      name: one of :data:`NAMES`.
      call: computes the gradient on the bound inputs; this is what is timed.
      to_params: the call's output as ``Params`` of JAX arrays, for the check.
    """

    name: str
    call: Callable[[], object]
    to_params: Callable[[object], Params]


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A peer that cannot run here.

    Attributes:
      peer: its name.
      reason: why, e.g. "torch is not installed".
      install: how to install what it needs.
    """

    peer: str
    reason: str
    install: str = INSTALL_HINT

    def as_dict(self) -> dict[str, str]:
        """The JSON form."""
        return dataclasses.asdict(self)


def xla_threads() -> int:
    """The number of threads XLA's CPU backend runs a program on: every usable core."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def import_torch() -> ModuleType:
    """torch, its intra-op threads set to XLA's, its idle threads sleeping.

    The peers run in the same process as the JAX entries, interleaved with
    them; OpenMP threads that spin while waiting for work would take the
    cores from XLA's threads right after every torch call. So, unless the
    environment already says otherwise, ``OMP_WAIT_POLICY=PASSIVE`` is set
    before torch is first imported.

    Raises:
      ImportError: torch is not installed.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch = importlib.import_module("torch")
    torch.set_num_threads(xla_threads())
    return torch


def _import(name: str) -> ModuleType | None:
    try:
        return import_torch() if name == "torch" else importlib.import_module(name)
    except ImportError:
        return None


def skipped_peers(names: Sequence[str] = NAMES) -> list[Skipped]:
    """The peers among ``names`` whose package is not importable, with the reason."""
    return [
        Skipped(name, f"{PACKAGES[name]} is not installed")
        for name in names
        if _import(PACKAGES[name]) is None
    ]


def _to_jax(value: object) -> object:
    return jnp.asarray(np.asarray(value))


def _as_params(grads: tuple[Sequence[object], Sequence[object]]) -> Params:
    grad_W, grad_b = grads
    return Params(tuple(map(_to_jax, grad_W)), tuple(map(_to_jax, grad_b)))


def make_peers(
    hidden: str, theta: Params, X: object, Y: object, *, names: Sequence[str] = NAMES
) -> tuple[list[Peer], list[Skipped]]:
    """The installed peers among ``names``, bound to these inputs, and the skipped ones.

    Args:
      hidden: the activation of layers 1..L-1 (layer L: softmax, cross-entropy).
      theta: the parameters, as JAX arrays.
      X: the batch, (N, n_0).
      Y: the targets, (N, n_L).
      names: which peers to make.

    Returns:
      (peers, skipped), each in the order of ``names``.
    """
    # Writable float32 copies: torch refuses to share read-only memory.
    W = [np.array(w, np.float32) for w in theta.W]
    b = [np.array(v, np.float32) for v in theta.b]
    X_np, Y_np = np.array(X, np.float32), np.array(Y, np.float32)
    skipped = skipped_peers(names)
    missing = {item.peer for item in skipped}
    peers = []
    if NUMPY in names:
        ops = numpy_ops()
        peers.append(Peer(NUMPY, lambda: backprop(ops, W, b, X_np, Y_np, hidden), _as_params))
    if AUTOGRAD in names and AUTOGRAD not in missing:
        ag_ops = autograd_ops()
        ag_grad = importlib.import_module("autograd").grad(
            lambda params: loss(ag_ops, params[0], params[1], X_np, Y_np, hidden)
        )
        peers.append(Peer(AUTOGRAD, lambda: ag_grad((W, b)), _as_params))
    torch_names = [name for name in (TORCH_AUTOGRAD, TORCH_MANUAL) if name in names]
    if torch_names and TORCH_AUTOGRAD not in missing:
        peers += _torch_peers(torch_names, W, b, X_np, Y_np, hidden)
    order = {name: index for index, name in enumerate(names)}
    return sorted(peers, key=lambda peer: order[peer.name]), skipped


def _torch_peers(
    names: Sequence[str],
    W: Sequence[np.ndarray],
    b: Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    hidden: str,
) -> list[Peer]:
    torch = import_torch()
    ops = torch_ops(torch)
    W_t = [torch.from_numpy(w) for w in W]
    b_t = [torch.from_numpy(v) for v in b]
    X_t, Y_t = torch.from_numpy(X), torch.from_numpy(Y)
    leaves = [t.clone().requires_grad_(True) for t in (*W_t, *b_t)]
    L = len(W)

    def autograd_grads() -> tuple[list, list]:
        value = loss(ops, leaves[:L], leaves[L:], X_t, Y_t, hidden)
        grads = torch.autograd.grad(value, leaves)
        return list(grads[:L]), list(grads[L:])

    def manual_grads() -> tuple[list, list]:
        with torch.no_grad():
            return backprop(ops, W_t, b_t, X_t, Y_t, hidden)

    calls = {TORCH_AUTOGRAD: autograd_grads, TORCH_MANUAL: manual_grads}
    return [Peer(name, calls[name], _as_params) for name in names]
