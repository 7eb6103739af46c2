"""Checks of options that several of reference's tools take: dtype, seeds, finite results."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from reference.tolerances import TOLERANCES


def dtype_name(dtype: DTypeLike, where: str) -> str:
    """The name of a dtype that has a tolerance, or a ValueError listing those that do."""
    try:
        name = jnp.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name not in TOLERANCES:
        raise ValueError(f"{where}: dtype must be one of {sorted(TOLERANCES)}, got {dtype!r}")
    return name


def seed_tuple(seeds: Sequence[int], where: str) -> tuple[int, ...]:
    """The seeds as a tuple of ints, or a ValueError for an empty or non-integer sequence."""
    seeds = tuple(seeds)
    if not seeds or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in seeds
    ):
        raise ValueError(f"{where}: seeds must be a non-empty sequence of integers: {seeds!r}")
    return tuple(int(s) for s in seeds)


def non_finite(array: np.ndarray) -> tuple[int, tuple[int, ...]] | None:
    """(how many entries are NaN or inf, the index of the first), or None when all are finite."""
    bad = ~np.isfinite(array)
    if not bad.any():
        return None
    return int(bad.sum()), tuple(int(i) for i in np.argwhere(bad)[0])
