"""Checks an activation's Jacobian against jax.jacfwd at given points.

:func:`check_activation` is for a hand-written Jacobian, typically a
``manualgrad.Custom`` one: at every point it compares ``jacobian(z)`` with
``jax.jacfwd`` of the activation's function (for a built-in activation, of
the separately written formula in :mod:`reference._forward`), then the
products the algorithms take of it (v @ Jac in eqs. 3.2 and 4.2, and
Jac @ x) with the same products of the jacfwd matrix, and, where the
activation has one, ``jacobian_from_output(sigma(z))``. It passes silently
or raises an AssertionError that says at which point and entry.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

import manualgrad
from manualgrad import Activation
from reference import _forward
from reference.tolerances import tolerance

__all__ = ["check_activation"]


def _index(index: tuple[int, ...]) -> str:
    return ", ".join(str(i) for i in index)


def _compare(got: np.ndarray, expected: np.ndarray, tol: float, what: str) -> None:
    """Relative error over the largest expected entry; the message names the worst entry."""
    __tracebackhide__ = True
    if got.shape != expected.shape:
        raise AssertionError(f"{what} has shape {got.shape} but jax.jacfwd gives {expected.shape}")
    difference = np.abs(got - expected)
    difference = np.where(np.isnan(difference), np.inf, difference)  # NaN is never close
    if difference.size == 0:
        return
    scale = max(float(np.max(np.abs(expected))), np.finfo(np.float64).tiny)
    worst = np.unravel_index(np.argmax(difference), difference.shape)
    error = float(difference[worst]) / scale
    if error > tol:
        raise AssertionError(
            f"{what} differs from jax.jacfwd at entry ({_index(worst)}): got "
            f"{got[worst]:.10g}, expected {expected[worst]:.10g} (relative error {error:.3g} "
            f"over the tolerance {tol:g})"
        )


def check_activation(activation: str | Activation, z: ArrayLike) -> None:
    """Checks ``activation.jacobian`` against jax.jacfwd at the points z.

    Args:
      activation: a name or manualgrad activation, typically a
        ``manualgrad.Custom`` with a hand-written ``jacobian``.
      z: one point, shape (n,), or several, shape (k, n), in float32 or
        float64 (the tolerance is ``reference.tolerance`` of its dtype);
        your kinks, for example, to see the convention you chose there.

    Raises:
      AssertionError: the Jacobian, one of its products, or the Jacobian
        from the output differs from jax.jacfwd; the message gives the
        point, the entry, both values and the relative error.
      ValueError: z that is not one point or a stack of points.
      TypeError: z that is not floating.
    """
    __tracebackhide__ = True
    act = manualgrad.get_activation(activation)
    z = jnp.asarray(z)
    if z.ndim not in (1, 2) or z.shape[-1] == 0:
        raise ValueError(
            f"check_activation: z must be one point (n,) or several (k, n), got shape {z.shape}"
        )
    if not jnp.issubdtype(z.dtype, jnp.floating):
        raise TypeError(f"check_activation: z has dtype {z.dtype}; it needs a floating dtype")
    points = z[None] if z.ndim == 1 else z
    n = points.shape[1]
    try:
        act.check_width(n, points.dtype)  # shapes and dtypes first
    except (ValueError, TypeError) as error:
        raise AssertionError(f"check_activation: {error}") from None
    tol = tolerance(points.dtype)
    m = act.output_width(n)
    key_v, key_x = jax.random.split(jax.random.PRNGKey(0))
    v = jax.random.normal(key_v, (m,), points.dtype)
    x = jax.random.normal(key_x, (n,), points.dtype)
    as64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    for k, point in enumerate(points):
        at = f"check_activation: {act}: at point {k} (z = {np.asarray(point).tolist()})"
        expected = jax.jacfwd(_forward.activation_fn(act))(point)
        jac = act.jacobian(point)
        _compare(as64(jac.dense()), as64(expected), tol, f"{at}: the Jacobian")
        _compare(as64(v @ jac), as64(v @ expected), tol, f"{at}: v @ Jac (eqs. 3.2, 4.2)")
        _compare(as64(jac @ x), as64(expected @ x), tol, f"{at}: Jac @ x")
        if act.has_output_jacobian:
            from_output = act.jacobian_from_output(act(point)).dense()
            _compare(as64(from_output), as64(expected), tol, f"{at}: jacobian_from_output")
