"""The one table of tolerances, and the error measure they apply to.

Every comparison in the project (tests, ``manualgrad verify``, the checker)
measures the relative error of a gradient leaf by leaf: the largest absolute
difference in the leaf divided by the leaf's largest expected entry. An
expected leaf that is (nearly) all zero is measured on the scale of the whole
gradient instead, through a floor of 1e-6 times the largest expected entry
anywhere, so a dead layer must be zero where it should be, without dividing
by zero.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "FINITE_DIFFERENCE_TOLERANCE",
    "TOLERANCES",
    "leaf_relative_errors",
    "relative_error",
    "tolerance",
]

#: Relative tolerance of manualgrad against jax.grad, per dtype.
TOLERANCES: dict[str, float] = {
    "float32": 1e-5,
    "float64": 1e-10,
}

#: Relative tolerance against float64 central differences, whose truncation
#: and rounding errors are near 1e-9 for the default step.
FINITE_DIFFERENCE_TOLERANCE = 1e-6

_SCALE_FLOOR = 1e-6


def tolerance(dtype: Any) -> float:
    """The relative tolerance for gradients of this dtype.

    Args:
      dtype: "float32", "float64" or a dtype object.

    Returns:
      The entry of :data:`TOLERANCES`.

    Raises:
      ValueError: a dtype without a tolerance (the message lists those with one).
    """
    name = jnp.dtype(dtype).name
    try:
        return TOLERANCES[name]
    except KeyError:
        raise ValueError(
            f"no tolerance for dtype {name}; tolerances exist for {sorted(TOLERANCES)}"
        ) from None


def leaf_relative_errors(got: Any, expected: Any) -> list[float]:
    """Relative error of each leaf of ``got`` against ``expected`` (same structure).

    Args:
      got: a pytree of arrays, e.g. Params.
      expected: a pytree of the same structure and shapes.

    Returns:
      One float per leaf, in ``jax.tree_util.tree_leaves`` order: the largest
      absolute difference over the leaf's largest expected entry (see the
      module docstring for the floor that guards a zero leaf).

    Raises:
      ValueError: different numbers of leaves, or a shape mismatch.
    """
    got_leaves = [np.asarray(g, dtype=np.float64) for g in jax.tree_util.tree_leaves(got)]
    expected_leaves = [np.asarray(e, dtype=np.float64) for e in jax.tree_util.tree_leaves(expected)]
    if len(got_leaves) != len(expected_leaves):
        raise ValueError(f"got {len(got_leaves)} arrays but expected {len(expected_leaves)}")
    scale = max((np.max(np.abs(e), initial=0.0) for e in expected_leaves), default=0.0)
    floor = max(_SCALE_FLOOR * scale, np.finfo(np.float64).tiny)
    errors = []
    for g, e in zip(got_leaves, expected_leaves, strict=True):
        if g.shape != e.shape:
            raise ValueError(f"shape {g.shape} compared with shape {e.shape}")
        denominator = max(np.max(np.abs(e), initial=0.0), floor)
        difference = np.max(np.abs(g - e), initial=0.0)
        errors.append(float(difference / denominator) if np.isfinite(difference) else np.inf)
    return errors


def relative_error(got: Any, expected: Any) -> float:
    """The worst leaf's relative error (see the module docstring).

    Args:
      got: a pytree of arrays, e.g. Params.
      expected: a pytree of the same structure and shapes.

    Returns:
      The largest of :func:`leaf_relative_errors`; 0.0 for no leaves.
    """
    return max(leaf_relative_errors(got, expected), default=0.0)
