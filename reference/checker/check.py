"""check_backprop: draw seeded problems, call the candidate, compare, diagnose."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

import manualgrad
from manualgrad import Activation, Cost, Params
from reference.autodiff import grad as reference_grad
from reference.checker._arguments import Spec, activation_name, make_spec
from reference.checker._message import failure_message
from reference.checker._results import as_leaves
from reference.checker.mistakes import forward_pass, mistake_errors
from reference.checker.observations import Observation, leaf_report
from reference.problems import draw_case
from reference.tolerances import leaf_relative_errors

__all__ = ["check_backprop"]

Candidate = Callable[[Params, jax.Array, jax.Array], Any]


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


def _nonpointwise(spec: Spec) -> tuple[str, ...]:
    """The activations whose Jacobians have entries off the diagonal."""
    return tuple(
        activation_name(a)
        for a, n in zip(spec.activations, spec.dims[1:], strict=True)
        if not isinstance(a, manualgrad.Pointwise) and a.output_width(n) == n
    )


def _observe(result: _SeedResult, spec: Spec) -> Observation:
    names = _leaf_names(spec.num_layers)
    reports = {
        name: leaf_report(name, g, e, error, tolerance=spec.tolerance, batch_size=spec.batch_size)
        for name, g, e, error in zip(names, result.got, result.expected, result.errors, strict=True)
    }
    ordered = tuple(
        reports[f"{kind}_{l}"] for l in range(1, spec.num_layers + 1) for kind in ("W", "b")
    )
    forward = forward_pass(result.theta, result.X, result.Y, spec.activations, spec.cost)
    return Observation(
        leaves=ordered,
        batch_size=spec.batch_size,
        activations=tuple(activation_name(a) for a in spec.activations),
        cost=spec.cost.name,
        mistakes=mistake_errors(forward, result.got),
        tolerance=spec.tolerance,
        nonpointwise=_nonpointwise(spec),
    )


@contextlib.contextmanager
def _x64(enabled: bool) -> Iterator[None]:
    if enabled:
        with jax.enable_x64(True):
            yield
    else:
        yield


def _run_seed(candidate: Candidate, seed: int, spec: Spec) -> _SeedResult:
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
        got = as_leaves(candidate(theta, X, Y), theta, spec)
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
    batch X and targets Y that the cost is defined on (see
    :func:`reference.draw_case`), calls ``candidate(theta, X, Y)`` and
    compares each W_l and b_l with :func:`reference.grad` computed in float64
    on the same inputs. float64 is enabled for the duration of a float64
    check, so nothing needs configuring.

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
    spec = make_spec(activations, cost, dims, batch_size, seeds, dtype)
    results = [_run_seed(candidate, seed, spec) for seed in spec.seeds]
    failing = [r for r in results if max(r.errors) > spec.tolerance]
    if failing:
        first = failing[0]
        with jax.enable_x64(True):
            observation = _observe(first, spec)
        shapes = {
            name: g.shape for name, g in zip(_leaf_names(spec.num_layers), first.got, strict=True)
        }
        raise AssertionError(
            failure_message(
                observation,
                seed=first.seed,
                failing_seeds=[r.seed for r in failing],
                shapes=shapes,
                spec=spec,
            )
        )
