"""Runs the matrix of ``manualgrad verify`` and measures every cell.

Compilation, not arithmetic, is what costs time at these sizes, so the cells
of one activation are compiled together: one XLA program per activation
holds every (network, cost, dtype, algorithm, Jacobian mode) of it, the
reference gradients, and the central differences, and is vmapped over the
seeds. Inside it each algorithm is called through its public, jit-compiled
function, exactly as a user calls it (a jit inside a jit is inlined), so what
is verified is the compiled path users get. XLA shares the forward pass
between the algorithms and costs of a network, which is where most of the
saving comes from. The main thread traces the next activation while worker
threads compile (XLA releases the GIL).

The reference is computed in float64 on the same inputs, rounded to float32
first, so one reference serves both dtypes and a float32 cell measures only
the algorithm's own rounding.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

import manualgrad
import reference
from reference.problems import draw_case
from reference.verify.matrix import Cell, Network, Selection

__all__ = ["EXECUTION", "Outcome", "draw", "enable_float64", "run"]

#: What the JSON and the output say was run, by execution mode.
EXECUTION = {
    "jit": (
        "jit: each algorithm is called through its public jit-compiled function, traced "
        "together with the reference into one XLA program per activation (default XLA "
        "options), vmapped over the seeds; the single-sample algorithms 1, 3 and 4 are "
        "vmapped over the rows of the batch"
    ),
    "eager": (
        "eager: each algorithm runs op by op under jax.disable_jit(), no compiled "
        "program; this checks the mathematics, not the compiled path users get"
    ),
}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The measurements of one cell.

    Attributes:
      cell: the cell.
      network: the network it was measured on.
      tolerance: reference.tolerance(dtype).
      errors: per seed, the relative error of each leaf (W_1..W_L, b_1..b_L)
        against reference.grad of the batch loss.
      fd_errors: per seed, the relative error of the gradient of the batch
        loss against float64 central differences; None where not measured.
      fd_note: why the finite-difference column is empty, if it is.
      failure: the exception the algorithm raised, if it did.
    """

    cell: Cell
    network: Network
    tolerance: float
    errors: tuple[tuple[float, ...], ...]
    fd_errors: tuple[float, ...] | None
    fd_note: str | None = None
    failure: str | None = None

    @property
    def error(self) -> float:
        """The worst relative error against reference.grad."""
        if self.failure is not None:
            return float("inf")
        return max((e for seed in self.errors for e in seed), default=0.0)

    @property
    def fd_error(self) -> float | None:
        """The worst relative error against central differences."""
        return None if self.fd_errors is None else max(self.fd_errors, default=0.0)

    @property
    def passed(self) -> bool:
        fd_ok = self.fd_error is None or self.fd_error <= reference.FINITE_DIFFERENCE_TOLERANCE
        return self.failure is None and self.error <= self.tolerance and fd_ok


@dataclasses.dataclass(frozen=True)
class _Data:
    """Float64 inputs of one network, one leading entry per seed."""

    theta: manualgrad.Params
    X: np.ndarray
    Y: dict[str, np.ndarray]


def _round_to_float32(tree: Any) -> Any:
    """Inputs every dtype represents exactly, so one float64 reference serves all."""
    return jax.tree_util.tree_map(lambda v: np.asarray(v, np.float32).astype(np.float64), tree)


def draw(network: Network, seeds: int, batch_size: int) -> _Data:
    """theta, X and a target per cost for each seed, by the one recipe of reference.problems.

    The recipe draws theta and X from keys that do not depend on the cost, so
    every cost of a network sees the same theta and X.
    """
    cases = []
    for seed in range(seeds):
        drawn = {
            cost: draw_case(
                seed,
                activations=network.layers,
                cost=cost,
                dims=network.dims,
                batch_size=batch_size,
                dtype="float64",
            )
            for cost in network.costs
        }
        theta, X, _ = drawn[network.costs[0]]
        cases.append((theta, X, {cost: Y for cost, (_, _, Y) in drawn.items()}))
    theta = jax.tree_util.tree_map(lambda *v: np.stack(v), *(c[0] for c in cases))
    X = np.stack([c[1] for c in cases])
    Y = {cost: np.stack([c[2][cost] for c in cases]) for cost in network.costs}
    return _round_to_float32(_Data(theta, X, Y))


jax.tree_util.register_dataclass(_Data, data_fields=["theta", "X", "Y"], meta_fields=[])


def _over_seeds(fn: Callable[..., Any]) -> Callable[..., Any]:
    """fn mapped over the leading seed axis of its arguments and results.

    With a single seed the axis is dropped rather than vmapped: vmap makes
    tracing dearer (every jit inside is batched), and one seed needs none.
    """

    def mapped(*args: Any) -> Any:
        if jax.tree_util.tree_leaves(args)[0].shape[0] > 1:
            return jax.vmap(fn)(*args)
        squeezed = jax.tree_util.tree_map(lambda v: v[0], args)
        return jax.tree_util.tree_map(lambda v: v[None], fn(*squeezed))

    return mapped


def _per_row(fn: Callable[..., Any]) -> Callable[..., Any]:
    """fn(theta, x, y) for one sample, mapped over the rows of each seed's batch."""
    return _over_seeds(jax.vmap(fn, in_axes=(None, 0, 0)))


def _algorithm_call(algorithm, theta, x, y, *, activations, cost, mode):
    return algorithm(theta, x, y, activations, cost, jacobian_mode=mode)


def _reference_call(theta, x, y, *, activations, cost):
    return reference.grad(theta, x, y, activations, cost)


def _fd_call(theta, x, y, *, activations, cost):
    return reference.numerical_grad(theta, x, y, activations, cost)


def _key(*parts: object) -> str:
    return "/".join(str(p) for p in parts)


def _program(
    networks: list[Network],
    selection: Selection,
    algorithms: dict[int, Callable[..., Any]],
    failures: dict[str, str],
) -> Callable[[list[_Data]], dict[str, Any]]:
    """One traced function computing every cell of a group of networks.

    An algorithm that raises while being traced is recorded in ``failures``
    and left out, so the rest of the matrix still runs.
    """

    def evaluate(data: list[_Data]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, (network, d) in enumerate(zip(networks, data, strict=True)):
            statics = {"activations": network.layers}
            for cost in network.costs:
                args = (d.theta, d.X, d.Y[cost])
                reference_fn = functools.partial(_reference_call, cost=cost, **statics)
                out[_key(i, cost, "reference")] = _over_seeds(reference_fn)(*args)
                if _with_fd(network, selection):
                    fd_fn = functools.partial(_fd_call, cost=cost, **statics)
                    out[_key(i, cost, "fd")] = _over_seeds(fd_fn)(*args)
                for dtype in selection.dtypes:
                    cast = jax.tree_util.tree_map(lambda v, t=dtype: v.astype(t), args)
                    for k in selection.algorithms:
                        algorithm = algorithms[k]
                        for mode in selection.modes:
                            key = _key(i, cost, k, mode, dtype)
                            fn = functools.partial(
                                _algorithm_call, algorithm, cost=cost, mode=mode, **statics
                            )
                            mapped = _over_seeds(fn) if algorithm.batch else _per_row(fn)
                            try:
                                out[key] = mapped(*cast)
                            except Exception as error:  # a broken algorithm is a FAIL
                                failures[key] = f"{type(error).__name__}: {error}"
        return out

    return evaluate


def _with_fd(network: Network, selection: Selection) -> bool:
    return (
        selection.finite_differences
        and "float64" in selection.dtypes
        and network.finite_differences
    )


def _fd_note(network: Network, selection: Selection, dtype: str) -> str | None:
    if dtype != "float64":
        return "float64 only"
    if not selection.finite_differences:
        return "not run"
    if not network.finite_differences:
        return f"skipped: {', '.join(sorted(network.kinked))} has a kink"
    return None


def _leaves(tree: Any) -> list[np.ndarray]:
    return [np.asarray(v) for v in jax.tree_util.tree_leaves(tree)]


def _score(
    got: list[np.ndarray],
    expected: list[np.ndarray],
    fd: list[np.ndarray] | None,
    *,
    batch: bool,
) -> tuple[tuple[tuple[float, ...], ...], tuple[float, ...] | None]:
    """Per seed, per leaf relative errors, and per seed errors against central differences.

    Every algorithm is measured on the gradient of the batch loss: a
    single-sample algorithm's gradients are summed over the rows (in
    float64), as the extended cost sums the rows' losses.
    """
    errors, fd_errors = [], []
    for s in range(expected[0].shape[0]):
        got_s = [v[s] if batch else v[s].astype(np.float64).sum(0) for v in got]
        errors.append(tuple(reference.leaf_relative_errors(got_s, [e[s] for e in expected])))
        if fd is not None:
            fd_errors.append(reference.relative_error(got_s, [v[s] for v in fd]))
    return tuple(errors), (tuple(fd_errors) if fd is not None else None)


def _outcomes(
    networks: list[Network],
    selection: Selection,
    algorithms: dict[int, Callable[..., Any]],
    out: dict[str, Any],
    failures: dict[str, str],
) -> list[Outcome]:
    results = []
    for i, network in enumerate(networks):
        for cost in network.costs:
            expected = _leaves(out[_key(i, cost, "reference")])
            fd_key = _key(i, cost, "fd")
            fd = _leaves(out[fd_key]) if fd_key in out else None
            for dtype in selection.dtypes:
                for k in selection.algorithms:
                    for mode in selection.modes:
                        key = _key(i, cost, k, mode, dtype)
                        cell = Cell(k, network.subject, cost, dtype, mode)
                        tolerance = reference.tolerance(dtype)
                        if key in failures:
                            results.append(
                                Outcome(cell, network, tolerance, (), None, failure=failures[key])
                            )
                            continue
                        errors, fd_errors = _score(
                            _leaves(out[key]),
                            expected,
                            fd if dtype == "float64" else None,
                            batch=algorithms[k].batch,
                        )
                        results.append(
                            Outcome(
                                cell,
                                network,
                                tolerance,
                                errors,
                                fd_errors,
                                fd_note=_fd_note(network, selection, dtype),
                            )
                        )
    return results


def _compile_and_run(lowered: jax.stages.Lowered, data: list[_Data]) -> dict[str, Any]:
    return jax.device_get(lowered.compile()(data))


@dataclasses.dataclass(frozen=True)
class _Group:
    """One activation's networks, their data, and the program's failures."""

    networks: list[Network]
    data: list[_Data]
    failures: dict[str, str] = dataclasses.field(default_factory=dict)


def run(
    selection: Selection,
    *,
    batch_size: int,
    eager: bool = False,
    workers: int | None = None,
) -> Iterator[list[Outcome]]:
    """Runs the selection, yielding the outcomes of one activation at a time.

    Args:
      selection: the cells to run.
      batch_size: rows per batch.
      eager: run op by op under ``jax.disable_jit()`` instead of compiling.
      workers: threads compiling while the caller's thread traces; the
        number of CPU cores when None.

    Yields:
      The outcomes of each activation's cells, in the order of
      ``selection.activations``.
    """
    algorithms = {k: manualgrad.ALGORITHMS[k] for k in selection.algorithms}
    networks = selection.networks()
    # Drawn before any compilation starts: a small compilation on this thread
    # would wait long behind a large one on a worker.
    groups = []
    for activation in selection.activations:
        mine = [n for n in networks if n.subject == activation]
        groups.append(_Group(mine, [draw(n, selection.seeds, batch_size) for n in mine]))

    def outcomes(group: _Group, out: dict[str, Any]) -> list[Outcome]:
        return _outcomes(group.networks, selection, algorithms, out, group.failures)

    if eager:
        for group in groups:
            program = _program(group.networks, selection, algorithms, group.failures)
            with jax.disable_jit():
                yield outcomes(group, jax.device_get(program(group.data)))
        return
    workers = workers or max(1, os.cpu_count() or 1)
    pending: list[tuple[_Group, concurrent.futures.Future]] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for group in groups:
            program = _program(group.networks, selection, algorithms, group.failures)
            lowered = jax.jit(program).lower(group.data)
            pending.append((group, pool.submit(_compile_and_run, lowered, group.data)))
            # Score what has finished while the pool keeps compiling.
            while pending and pending[0][1].done():
                done, future = pending.pop(0)
                yield outcomes(done, future.result())
        for done, future in pending:
            yield outcomes(done, future.result())


def enable_float64() -> None:
    """float64 cells need 64-bit JAX; the command owns its process."""
    jax.config.update("jax_enable_x64", True)
