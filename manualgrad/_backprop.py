"""Pieces the five algorithms share: the public wrapper, Jacobian modes, rows.

The algorithms themselves live in :mod:`manualgrad.algorithms` and read
like the notes; everything that is not a line of the notes' pseudo-code is
here, written once.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple, Protocol, cast

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from manualgrad import _validation
from manualgrad.activations import Activation, Identity
from manualgrad.costs import Cost
from manualgrad.jacobians import Jacobian
from manualgrad.params import Params

JacobianMode = Literal["structured", "dense"]
JACOBIAN_MODES: tuple[str, ...] = ("structured", "dense")


class Sensitivities(NamedTuple):
    """Gradients of the partial loss functions of section 2.4 (Exercise 6).

    ``grad_z[l-1]`` is grad_{z_l} L for l = 1..L, shaped like z_l; ``grad_a[l]``
    is grad_{a_l} L for l = 0..L (a_0 = x), shaped like a_l. The batch
    algorithms return them with rows first, (N, width).
    """

    grad_z: tuple[jax.Array, ...]
    grad_a: tuple[jax.Array, ...]


Jac = Jacobian | jax.Array
Core = Callable[..., tuple[Params, Sensitivities]]


def one_based(theta: Params, activations: tuple[Activation, ...]) -> tuple[list, list, list, int]:
    """(W, b, sigma, L) indexed as in the notes: W[l] is W_l, sigma[0] = identity."""
    W = [None, *theta.W]
    b = [None, *theta.b]
    sigma = [Identity(), *activations]
    return W, b, sigma, len(theta.W)


def jacobian(sigma: Activation, z: jax.Array, mode: JacobianMode) -> Jac:
    """Jacobian(sigma, z) of the pseudo-code: structured, or the dense matrix."""
    jac = sigma.jacobian(z)
    return jac.dense() if mode == "dense" else jac


def jacobian_from_output(sigma: Activation, a: jax.Array, mode: JacobianMode) -> Jac:
    """The same Jacobian, recovered from a = sigma(z)."""
    jac = sigma.jacobian_from_output(a)
    return jac.dense() if mode == "dense" else jac


def jacobian_rows(sigma: Activation, Z: jax.Array, mode: JacobianMode) -> Jac:
    """``for i <- 1 to N: Jac_{i,l} <- Jacobian(sigma_l, Z_l[i])``, one per row."""
    return jax.vmap(lambda z: jacobian(sigma, z, mode))(Z)


def rows_times(G: jax.Array, jac: Jac) -> jax.Array:
    """``for i <- 1 to N: out[i] <- G[i] @ Jac_{i,l}`` (eqs. 4.1 and 4.2)."""
    return jax.vmap(lambda g, j: g @ j)(G, jac)


def output_grad_z(
    sigma_L: Activation,
    cost: Cost,
    a_L: jax.Array,
    y: jax.Array,
    grad_a_L: jax.Array,
    jac_L: Jac,
) -> jax.Array:
    """Eq. 3.1 (4.1 row by row): Jac_L^T @ grad_{y_hat} C(-, y).

    Where the output activation and cost have a closed form for this product
    (softmax with cross-entropy, sigmoid with binary cross-entropy) it is
    used instead, so a saturated output gives a finite gradient.
    """
    fused = cost.fused_grad_z(sigma_L, a_L, y)
    if fused is not None:
        return fused
    if a_L.ndim == 1:
        return jac_L.T @ grad_a_L
    return rows_times(grad_a_L, jac_L)


def ones_times(b: jax.Array, num_rows: int) -> jax.Array:
    """1_N @ b^T: the bias as a row, broadcast to every row of the batch."""
    return jnp.broadcast_to(b[None, :], (num_rows, b.shape[0]))


def forward_preactivations(W: list, b: list, sigma: list, X: jax.Array) -> list:
    """Algorithm 2's forward propagation, caching pre-activations only.

    Args:
      W, b, sigma: one-based lists, as :func:`one_based` returns them.
      X: the batch, (N, n_0).

    Returns:
      [Z_0, ..., Z_L], Z_0 = X.
    """
    N = X.shape[0]
    Z = [X]  # Z_0 <- X
    for l in range(1, len(W)):
        Z.append(sigma[l - 1](Z[l - 1]) @ W[l].T + ones_times(b[l], N))  # Z_l
    return Z


def pack(
    grad_W: list, grad_b: list, grad_z: list, grad_a: list, L: int
) -> tuple[Params, Sensitivities]:
    """One-based lists back to (Params, Sensitivities)."""
    grads = Params(tuple(grad_W[1 : L + 1]), tuple(grad_b[1 : L + 1]))
    return grads, Sensitivities(tuple(grad_z[1 : L + 1]), tuple(grad_a[: L + 1]))


def check_jacobian_mode(
    jacobian_mode: object, theta: Params, num_rows: int, max_dense_bytes: int | None, where: str
) -> None:
    """Refuses an unknown mode, and a dense mode whose Jacobians for ``num_rows`` rows
    would exceed ``max_dense_bytes`` (see ``_validation.check_dense_budget``)."""
    if jacobian_mode not in JACOBIAN_MODES:
        raise ValueError(
            f"{where}: jacobian_mode must be one of {JACOBIAN_MODES}, got {jacobian_mode!r}"
        )
    if jacobian_mode == "dense":
        _validation.check_dense_budget(theta, num_rows, max_dense_bytes, where)


class Algorithm(Protocol):
    """A public backpropagation function, as ``manualgrad.ALGORITHMS`` holds them.

    Called as ``f(theta, x, y, activations, cost, *, return_sensitivities=False,
    jacobian_mode="structured", max_dense_bytes=2**30)``.

    Attributes:
      number: the notes' algorithm number (1..5).
      batch: whether x and y are batches of rows (Algorithms 2 and 5).
      title: e.g. "Algorithm 2", as messages name it.
    """

    number: int
    batch: bool
    title: str
    __name__: str

    def __call__(
        self,
        theta: Params,
        x: ArrayLike,
        y: ArrayLike,
        activations: Sequence[str | Activation],
        cost: str | Cost,
        *,
        return_sensitivities: bool = False,
        jacobian_mode: JacobianMode = "structured",
        max_dense_bytes: int | None = _validation.DEFAULT_MAX_DENSE_BYTES,
    ) -> Params | tuple[Params, Sensitivities]: ...


#: The keyword arguments every algorithm takes, for its docstring.
_KEYWORD_ARGS = """\
      return_sensitivities: also return the gradients of the partial loss
        functions, grad_z_l L and grad_a_l L (Sensitivities; rows first for
        a batch).
      jacobian_mode: "structured" (diagonal, diagonal minus rank one, one
        row: no n x n matrix for pointwise or softmax layers) or "dense"
        (every Jac_l materialized as the notes write it).
      max_dense_bytes: the most the dense mode may allocate for Jacobians;
        it refuses, with its estimate, above it. None: no bound.
"""

_RAISES = """\
    Raises:
      ValueError: a shape that does not fit (naming the layer), an unknown
        activation, cost or jacobian_mode, or a dense mode over its budget.
      TypeError: a non-floating or mixed dtype, a wrongly typed argument.
"""


def public_docstring(body_doc: str, keyword_args: str, raises: str) -> str:
    """The body's docstring with the public keyword arguments and errors added.

    The keyword arguments go at the end of the Args section, the errors after
    the Returns section, so ``help()`` shows every argument of the public
    function in one Google-style docstring.
    """
    head, returns = body_doc.split("    Returns:\n", 1)
    return f"{head.rstrip()}\n{keyword_args}\n    Returns:\n{returns.rstrip()}\n\n{raises}"


def public_function(
    core: Callable[..., object],
    *,
    compiled: Callable[..., object],
    batch: bool,
    where: str,
    check_options: Callable[[_validation.CheckedInputs, int, dict[str, object]], dict[str, object]],
    static_options: dict[str, object],
    positional: tuple[str, ...] = ("theta", "x", "y", "activations", "cost"),
    name: str | None = None,
) -> Callable[..., object]:
    """The validated public form of a compiled body; shared by every backprop.

    Args:
      core: the body, whose name and docstring the public function takes.
      compiled: ``compiled(theta, x, y, activations, cost, **options)``.
      batch: whether x and y are batches of rows.
      where: how error messages name the function.
      check_options: ``check_options(checked, num_rows, options)`` raises for
        options that do not fit these inputs, and returns the keyword
        arguments for ``compiled``.
      static_options: the keyword-only options and their defaults.
      positional: the names of the five positional arguments.
      name: the public name; by default the body's.

    Returns:
      ``public(theta, x, y, activations, cost, **options)``: checks the
      inputs (trace time, so errors name the layer), then the options, then
      calls ``compiled``.
    """

    annotations = ("Params", "ArrayLike", "ArrayLike", "Sequence[str | Activation]", "str | Cost")
    parameters = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation)
        for name, annotation in zip(positional, annotations, strict=True)
    ]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, default in static_options.items()
    ]
    signature = inspect.Signature(
        parameters, return_annotation="Params | tuple[Params, Sensitivities]"
    )

    def public(*args: object, **kwargs: object) -> object:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{where}: {error}") from None
        bound.apply_defaults()
        inputs = [bound.arguments[name] for name in positional]
        options = {name: bound.arguments[name] for name in static_options}
        checked = _validation.check_inputs(*inputs, batch=batch, where=where)
        num_rows = checked.x.shape[0] if batch else 1
        return compiled(*checked, **check_options(checked, num_rows, options))

    public.__name__ = public.__qualname__ = name or core.__name__
    public.__module__ = core.__module__
    public.__signature__ = signature
    return public


def algorithm(*, number: int, batch: bool) -> Callable[[Core], Algorithm]:
    """Turns an algorithm's body into its public, validated, jit-compiled form.

    The body takes normalized inputs and returns (grads, sensitivities). The
    public function checks its arguments at trace time, so shape errors name
    the layer, then runs the body under ``jax.jit`` with the activations,
    cost and modes static. It composes with ``jax.jit`` and ``jax.vmap``
    applied from outside.
    """

    def decorate(core: Core) -> Algorithm:
        where = f"{core.__name__} (Algorithm {number})"

        @functools.partial(
            jax.jit,
            static_argnames=(
                "activations",
                "cost",
                "jacobian_mode",
                "return_sensitivities",
            ),
        )
        def compiled(
            theta: Params,
            x: jax.Array,
            y: jax.Array,
            activations: tuple[Activation, ...],
            cost: Cost,
            *,
            jacobian_mode: JacobianMode,
            return_sensitivities: bool,
        ) -> Params | tuple[Params, Sensitivities]:
            grads, sens = core(theta, x, y, activations, cost, jacobian_mode)
            return (grads, sens) if return_sensitivities else grads

        def check_options(
            checked: _validation.CheckedInputs, num_rows: int, options: dict[str, object]
        ) -> dict[str, object]:
            mode = options["jacobian_mode"]
            check_jacobian_mode(mode, checked.theta, num_rows, options["max_dense_bytes"], where)
            return {
                "jacobian_mode": mode,
                "return_sensitivities": bool(options["return_sensitivities"]),
            }

        public = public_function(
            core,
            compiled=compiled,
            batch=batch,
            where=where,
            check_options=check_options,
            static_options={
                "return_sensitivities": False,
                "jacobian_mode": "structured",
                "max_dense_bytes": _validation.DEFAULT_MAX_DENSE_BYTES,
            },
        )
        public.__doc__ = public_docstring(core.__doc__ or "", _KEYWORD_ARGS, _RAISES)
        public.number = number
        public.batch = batch
        public.title = f"Algorithm {number}"
        return cast(Algorithm, public)

    return decorate
