"""What is timed for one configuration: every algorithm and mode, and the baselines.

Each entry is a function of (theta, x, y) that returns the gradient as
``Params``, compiled with ``jax.jit`` from outside, so the manualgrad side
and the autodiff side are timed the same way: one compiled XLA program per
entry, no Python validation inside the timed call.

Forms:

* ``sample``: one sample x (n_0,), y (n_L,); only at N = 1.
* ``batch``: X (N, n_0), Y (N, n_L), the loss summed over rows.
* ``vmap``: a single-sample algorithm under ``jax.vmap`` over the rows,
  its per-row gradients summed; at N > 1.

Every entry is compared with jax.grad of the loss with the same inputs:
``sample`` with the single-sample loss, ``batch`` and ``vmap`` with the
summed batch loss. ``vmap`` entries are also compared with
``jax.vmap(jax.grad)`` summed, autodiff's own per-row computation.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import manualgrad
from benchmarks import _baselines
from benchmarks._configs import COST, Config
from manualgrad import Params, _validation

GRAD = "jax.grad"
VJP = "jax.vjp"
PER_EXAMPLE = "jax.vmap(jax.grad)"


def algorithm_name(number: int) -> str:
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
    fn: Callable[..., Params]
    args: tuple
    refusal: str | None = None
    plain_call: Callable[[], object] | None = None

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.name, self.mode, self.form)


def make_inputs(config: Config, dtype: str) -> tuple[Params, jax.Array, jax.Array]:
    """theta, X (N, n) and Y (N, n), rows of Y on the probability simplex.

    Drawn with NumPy, so no small XLA program is compiled per shape; W_l has
    entries of variance 1 / n_{l-1}, so activations stay of order one.
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


def _dense_refusal(theta: Params, num_rows: int, max_dense_bytes: int | None, where: str) -> str:
    """The library's own budget message for ``num_rows`` rows, or "" if within budget."""
    try:
        _validation.check_dense_budget(theta, num_rows, max_dense_bytes, where)
    except ValueError as error:
        return str(error)
    return ""


def make_entries(
    config: Config,
    theta: Params,
    X: jax.Array,
    Y: jax.Array,
    *,
    max_dense_bytes: int | None = _validation.DEFAULT_MAX_DENSE_BYTES,
) -> list[Entry]:
    """Every algorithm in both Jacobian modes, and the baselines, for ``config``.

    Args:
      config: the network and batch size.
      theta, X, Y: from :func:`make_inputs`.
      max_dense_bytes: the dense mode's budget, passed to the algorithms.

    Returns:
      Baselines first, then the algorithms in the notes' order.
    """
    acts, hidden = config.activations, config.hidden
    batch_args = (theta, X, Y)
    sample_args = (theta, X[0], Y[0])
    entries = [
        _baseline(GRAD, "batch", _baselines.grad_fn(_baselines.batch_loss, hidden), batch_args),
        _baseline(VJP, "batch", _baselines.vjp_fn(_baselines.batch_loss, hidden), batch_args),
    ]
    if config.N == 1:
        entries += [
            _baseline(
                GRAD, "sample", _baselines.grad_fn(_baselines.sample_loss, hidden), sample_args
            ),
            _baseline(
                VJP, "sample", _baselines.vjp_fn(_baselines.sample_loss, hidden), sample_args
            ),
        ]
    else:
        per_example = _baselines.per_example_grad_fn(hidden)
        entries.append(_baseline(PER_EXAMPLE, "vmap", per_example, batch_args))
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
            fn = _vmapped(gradient) if form == "vmap" else gradient
            refusal = None
            if form == "vmap" and mode == "dense":
                # Each vmapped call checks one row's Jacobians; the program holds N rows'.
                where = f"{algorithm.__name__} (Algorithm {number}) under jax.vmap"
                refusal = _dense_refusal(theta, config.N, max_dense_bytes, where) or None
            plain_call = _bind(gradient, args) if form != "vmap" and mode == "structured" else None
            entries.append(
                Entry(algorithm_name(number), number, mode, form, fn, args, refusal, plain_call)
            )
    return entries


def _baseline(name: str, form: str, fn: Callable[..., Params], args: tuple) -> Entry:
    return Entry(name, None, None, form, fn, args)


def _vmapped(gradient: Callable[..., Params]) -> Callable[..., Params]:
    per_row = jax.vmap(gradient, in_axes=(None, 0, 0))
    return lambda theta, X, Y: _baselines.sum_rows(per_row(theta, X, Y))


def _bind(fn: Callable[..., object], args: tuple) -> Callable[[], object]:
    return lambda: fn(*args)
