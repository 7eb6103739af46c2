"""Data-parallel batch backprop: Algorithms 2 and 5 with the rows on a device mesh.

The extended cost is a sum over rows (section 4.2),

    L~(theta) = sum_i C(F_theta(X[i]), Y[i]),

so its gradient is the sum of the gradients of any partition of the rows
into shards. :func:`sharded_grad` splits the batch X (N, n_0) over one axis
of a ``jax.sharding.Mesh`` with ``jax.shard_map``, replicates theta, runs the
hand-written algorithm on each device's rows and adds the per-shard
gradients with ``jax.lax.psum``. Nothing of the algorithm is copied: each
device calls :func:`manualgrad.backprop_batch` or
:func:`manualgrad.backprop_batch_combined` itself.

A batch that k devices do not divide is padded to the next multiple of k
with rows of zero weight. The padding rows sit at the end of the batch; the
algorithm is handed the cost wrapped so that grad_{y_hat} C, and the closed
form of eq. 4.1 where there is one, is zero on them. Every later line of
Algorithms 2 and 5 is linear in that row of grad_Z_L, so the padding rows
contribute exact zeros to every gradient, for every cost.

Example:

    from manualgrad.sharded import batch_mesh, sharded_grad

    mesh = batch_mesh()  # a 1-D mesh over jax.devices()
    grads = sharded_grad(2, theta, X, Y, ("tanh", "softmax"), "cross_entropy", mesh=mesh)

Multi-host use: start every process with ``jax.distributed.initialize()``.
``jax.devices()`` then lists the devices of all hosts, so every process
builds the same global mesh with :func:`batch_mesh`. Each process holds only
its own rows; it turns them into one global array with

    sharding = jax.sharding.NamedSharding(mesh, jax.P("batch"))
    X = jax.make_array_from_process_local_data(sharding, X_local)
    Y = jax.make_array_from_process_local_data(sharding, Y_local)

passes theta as the same values on every process, and calls
:func:`sharded_grad` with the same arguments everywhere. The gradients come
back replicated: every process can read all of them. A batch that the
devices do not divide is passed whole, replicated, by every process, and
padded as above. docs/sharding.md has the details.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec
from jax.typing import ArrayLike

from manualgrad import _validation
from manualgrad._backprop import JacobianMode, Sensitivities, check_jacobian_mode
from manualgrad.activations import Activation
from manualgrad.algorithms import ALGORITHMS
from manualgrad.costs import Cost
from manualgrad.params import Params

__all__ = ["BATCH_ALGORITHMS", "batch_mesh", "sharded_grad"]

#: The batch-first algorithms of the notes, which take X (N, n_0): 2 and 5.
BATCH_ALGORITHMS: dict[int, Callable[..., object]] = {
    number: function for number, function in ALGORITHMS.items() if function.batch
}


@dataclasses.dataclass(frozen=True)
class _PaddedRowsCost(Cost):
    """A cost that gives zero weight to the padding rows of a sharded batch.

    Used only inside ``jax.shard_map``: a device holds rows
    ``axis_index * rows_per_shard + (0, 1, ...)`` of the padded batch, and
    rows from ``num_rows`` on are padding. Its gradient, and its closed form
    of Jac_L^T @ grad C, are the wrapped cost's on real rows and zero on
    padding rows: selected with ``jnp.where``, so even a NaN that the
    wrapped cost computes on a padding row never reaches the result.
    """

    cost: Cost
    num_rows: int
    axis_name: str
    name: ClassVar[str] = "padded_rows"

    def _real_rows(self, y_hat: jax.Array) -> jax.Array:
        rows_per_shard = y_hat.shape[0]
        first_row = jax.lax.axis_index(self.axis_name) * rows_per_shard
        rows = first_row + jnp.arange(rows_per_shard)
        return (rows < self.num_rows)[:, None]

    def _zero_padding(self, y_hat: jax.Array, value: jax.Array) -> jax.Array:
        return jnp.where(self._real_rows(y_hat), value, jnp.zeros_like(value))

    def __call__(self, y_hat: jax.Array, y: jax.Array) -> jax.Array:
        per_row = jax.vmap(self.cost)(y_hat, y)[:, None]
        return jnp.sum(self._zero_padding(y_hat, per_row))

    def grad(self, y_hat: jax.Array, y: jax.Array) -> jax.Array:
        return self._zero_padding(y_hat, self.cost.grad(y_hat, y))

    def fused_grad_z(self, activation: Activation, a: jax.Array, y: jax.Array) -> jax.Array | None:
        fused = self.cost.fused_grad_z(activation, a, y)
        return None if fused is None else self._zero_padding(a, fused)

    def __str__(self) -> str:
        return str(self.cost)


def batch_mesh(num_devices: int | None = None, axis_name: str = "batch") -> Mesh:
    """A 1-D mesh over the first ``num_devices`` of ``jax.devices()``.

    In a multi-host run ``jax.devices()`` lists every host's devices in the
    same order on every process, so each process builds the same mesh.

    Args:
      num_devices: how many devices, 1 to ``jax.device_count()``; None: all.
      axis_name: the name of the mesh's one axis, over which rows are split.

    Returns:
      A ``jax.sharding.Mesh`` of shape {axis_name: num_devices}.

    Raises:
      ValueError: ``num_devices`` out of range.
      TypeError: ``num_devices`` not an int, or ``axis_name`` not a string.
    """
    devices = jax.devices()
    if num_devices is None:
        num_devices = len(devices)
    if isinstance(num_devices, bool) or not isinstance(num_devices, int):
        raise TypeError(f"batch_mesh: num_devices must be an int, got {num_devices!r}")
    if not 1 <= num_devices <= len(devices):
        raise ValueError(
            f"batch_mesh: num_devices must be between 1 and the {len(devices)} "
            f"available devices, got {num_devices}"
        )
    if not isinstance(axis_name, str):
        raise TypeError(f"batch_mesh: axis_name must be a string, got {axis_name!r}")
    return jax.make_mesh(
        (num_devices,),
        (axis_name,),
        axis_types=(AxisType.Auto,),
        devices=devices[:num_devices],
    )


def _resolve_algorithm(algorithm: int | Callable[..., object]) -> Callable[..., object]:
    if isinstance(algorithm, int) and not isinstance(algorithm, bool):
        if algorithm in BATCH_ALGORITHMS:
            return BATCH_ALGORITHMS[algorithm]
    elif algorithm in BATCH_ALGORITHMS.values():
        return algorithm
    raise ValueError(
        f"sharded_grad: algorithm must be a batch-first algorithm, 2 or 5 "
        f"(manualgrad.backprop_batch or manualgrad.backprop_batch_combined), got "
        f"{getattr(algorithm, '__name__', algorithm)!r}; the single-sample "
        f"Algorithms 1, 3 and 4 take one row at a time"
    )


def _check_mesh(mesh: object, axis_name: object, where: str) -> None:
    if not isinstance(mesh, Mesh):
        raise TypeError(
            f"{where}: mesh must be a jax.sharding.Mesh (see manualgrad.sharded.batch_mesh), "
            f"got {type(mesh).__name__}"
        )
    if axis_name not in mesh.axis_names:
        raise ValueError(
            f"{where}: the mesh has no axis {axis_name!r} to split the batch over; "
            f"its axes are {mesh.axis_names}"
        )


def sharded_grad(
    algorithm: int | Callable[..., object],
    theta: Params,
    X: ArrayLike,
    Y: ArrayLike,
    activations: tuple[str | Activation, ...],
    cost: str | Cost,
    *,
    mesh: Mesh | None = None,
    axis_name: str = "batch",
    jacobian_mode: JacobianMode = "structured",
    return_sensitivities: bool = False,
    max_dense_bytes: int | None = _validation.DEFAULT_MAX_DENSE_BYTES,
) -> Params | tuple[Params, Sensitivities]:
    """Algorithm 2 or 5 with the rows of the batch split over a mesh axis.

    Each of the k devices along ``axis_name`` runs the algorithm on its
    ceil(N / k) rows, theta replicated; ``jax.lax.psum`` adds the per-shard
    gradients. When k does not divide N the batch is padded with rows of
    zero weight (see the module docstring). Other axes of the mesh hold
    copies of the same computation. Composes with ``jax.jit`` from outside.

    Args:
      algorithm: 2, 5, ``manualgrad.backprop_batch`` or
        ``manualgrad.backprop_batch_combined``.
      theta: Params(W, b), W[l-1] of shape (n_l, m_{l-1}); replicated.
      X: the batch, shape (N, n_0), one sample per row.
      Y: the targets, shape (N, m_L).
      activations: sigma_1..sigma_L, names or Activation objects.
      cost: the cost C; the loss is the extended cost, a sum over rows.
      mesh: the device mesh; None: :func:`batch_mesh` over all devices.
      axis_name: the mesh axis the rows are split over.
      jacobian_mode: "structured" or "dense", as for the algorithms.
      return_sensitivities: also return the Sensitivities.
      max_dense_bytes: the dense mode's budget, per device (for its
        ceil(N / k) rows); None: no bound.

    Returns:
      grad_theta of the extended loss over all N rows, as Params shaped and
      typed like theta and replicated on the mesh; with
      ``return_sensitivities``, (grads, Sensitivities), the sensitivities
      rows first, (N, width), split over ``axis_name`` like the rows of X.

    Raises:
      ValueError: an algorithm other than 2 or 5, a mesh without
        ``axis_name``, an unknown jacobian_mode, or bad input (as for the
        algorithms: the message names the layer).
      TypeError: a mesh that is not a ``jax.sharding.Mesh``, or input of
        the wrong type or dtype.
    """
    function = _resolve_algorithm(algorithm)
    where = f"sharded_grad (Algorithm {function.number})"
    checked = _validation.check_inputs(theta, X, Y, activations, cost, batch=True, where=where)
    if mesh is None:
        mesh = batch_mesh(axis_name=axis_name)
    _check_mesh(mesh, axis_name, where)
    rows_per_shard = -(-checked.x.shape[0] // mesh.shape[axis_name])
    check_jacobian_mode(jacobian_mode, checked.theta, rows_per_shard, max_dense_bytes, where)
    return _sharded(
        *checked,
        algorithm=function.number,
        mesh=mesh,
        axis_name=axis_name,
        jacobian_mode=jacobian_mode,
        return_sensitivities=bool(return_sensitivities),
    )


@functools.partial(
    jax.jit,
    static_argnames=(
        "activations",
        "cost",
        "algorithm",
        "mesh",
        "axis_name",
        "jacobian_mode",
        "return_sensitivities",
    ),
)
def _sharded(
    theta: Params,
    X: jax.Array,
    Y: jax.Array,
    activations: tuple[Activation, ...],
    cost: Cost,
    *,
    algorithm: int,
    mesh: Mesh,
    axis_name: str,
    jacobian_mode: JacobianMode,
    return_sensitivities: bool,
) -> Params | tuple[Params, Sensitivities]:
    num_rows = X.shape[0]
    num_padding = -num_rows % mesh.shape[axis_name]
    if num_padding:
        # Zero rows keep every forward value finite; the cost gives them zero weight.
        X = jnp.pad(X, ((0, num_padding), (0, 0)))
        Y = jnp.pad(Y, ((0, num_padding), (0, 0)))
        cost = _PaddedRowsCost(cost, num_rows, axis_name)
    rows = PartitionSpec(axis_name)
    theta = _typed_like(theta, mesh, PartitionSpec())
    X, Y = _typed_like((X, Y), mesh, rows)
    function = BATCH_ALGORITHMS[algorithm]

    def per_shard(
        theta: Params, X: jax.Array, Y: jax.Array
    ) -> Params | tuple[Params, Sensitivities]:
        out = function(
            theta,
            X,
            Y,
            activations,
            cost,
            jacobian_mode=jacobian_mode,
            return_sensitivities=return_sensitivities,
            max_dense_bytes=None,  # The caller checked the budget for a shard's rows.
        )
        if not return_sensitivities:
            return jax.lax.psum(out, axis_name)
        grads, sens = out
        return jax.lax.psum(grads, axis_name), sens

    out = jax.shard_map(
        per_shard,
        mesh=mesh,
        in_specs=(PartitionSpec(), rows, rows),
        out_specs=(PartitionSpec(), rows) if return_sensitivities else PartitionSpec(),
    )(theta, X, Y)
    if not return_sensitivities:
        return out
    grads, sens = out
    if num_padding:
        # k does not divide N: the N real rows cannot be split evenly anyway.
        sens = _typed_like(sens, mesh, PartitionSpec())
        sens = jax.tree_util.tree_map(lambda leaf: leaf[:num_rows], sens)
    return grads, sens


def _typed_like(tree: object, mesh: Mesh, spec: PartitionSpec) -> object:
    """Lays a pytree out as ``spec`` says, where the mesh types arrays with it.

    On a mesh with Explicit axes every array carries its sharding in its
    type, and ``jax.shard_map`` accepts only inputs laid out as its
    ``in_specs`` say; Auto axes are left to the compiler, as shard_map
    reshards its inputs itself.
    """
    explicit = {
        name
        for name, kind in zip(mesh.axis_names, mesh.axis_types, strict=True)
        if kind == AxisType.Explicit
    }
    if not explicit:
        return tree
    typed = PartitionSpec(*(name if name in explicit else None for name in spec))
    return jax.sharding.reshard(tree, NamedSharding(mesh, typed))
