"""Exponents of time against width, batch and depth, by least squares on log-log axes.

Exercise 4 of the notes: Algorithm 1 runs in O(L n^2) for one sample and
Algorithm 2 in O(N L n^2) for a batch. So time should grow like width^2,
like N and like L once the products dominate; small networks sit below
those slopes, where a fixed cost per call (dispatch, small kernels) does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from benchmarks._entries import GRAD, PER_EXAMPLE

#: axis -> the exponent Exercise 4 predicts.
PREDICTED: dict[str, float] = {"width": 2.0, "N": 1.0, "depth": 1.0}
AXES: tuple[str, ...] = tuple(PREDICTED)
CONFIG_FIELDS: tuple[str, ...] = ("N", "width", "depth", "hidden")


def fit_exponent(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The slope p of log y = p log x + c, by least squares."""
    slope, _ = np.polyfit(np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float)), 1)
    return float(slope)


def series_of(row: dict) -> tuple[str, str | None, str] | None:
    """Which curve a row belongs to, or None if it is not fitted.

    A single-sample algorithm runs on one sample at N = 1 and under vmap
    above, so those two forms make one curve, "per-sample". jax.grad has a
    batch curve and, at N = 1, a single-sample one.
    """
    if row["status"] != "ok":
        return None
    family = "batch" if row["form"] == "batch" else "per-sample"
    if row["algorithm"] is not None and row["mode"] == "structured":
        return (row["name"], row["mode"], family)
    if row["name"] in (GRAD, PER_EXAMPLE):
        return (row["name"], None, family)
    return None


def lines(rows: Iterable[dict], axis: str, *, min_points: int = 2) -> dict[tuple, list[dict]]:
    """Rows grouped into lines along ``axis``: same series, other fields fixed.

    Returns:
      (series, fixed fields as a tuple of pairs) -> rows sorted along the axis,
      for lines with at least ``min_points`` distinct values of the axis.
    """
    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        series = series_of(row)
        if series is None:
            continue
        fixed = tuple((field, row[field]) for field in CONFIG_FIELDS if field != axis)
        grouped[(series, fixed)].append(row)
    return {
        key: sorted(members, key=lambda row: row[axis])
        for key, members in grouped.items()
        if len({row[axis] for row in members}) >= min_points
    }


def scaling_fits(rows: Sequence[dict], *, min_points: int = 3) -> list[dict]:
    """An exponent for every series along every axis with enough points.

    Args:
      rows: the benchmark's result rows.
      min_points: fewest distinct values of the axis for a fit.

    Returns:
      One dict per line: series name, mode, form family, axis, the fixed
      fields, the (x, median seconds) points, the fitted exponent, the
      exponent between the two largest points alone (where the products
      dominate most), and the predicted exponent.
    """
    fits = []
    for axis in AXES:
        by_line = lines(rows, axis, min_points=min_points)
        for ((name, mode, family), fixed), members in by_line.items():
            xs = [row[axis] for row in members]
            ys = [row["median_s"] for row in members]
            fits.append(
                {
                    "series": name,
                    "mode": mode,
                    "family": family,
                    "axis": axis,
                    "fixed": dict(fixed),
                    "points": [[x, y] for x, y in zip(xs, ys, strict=True)],
                    "exponent": fit_exponent(xs, ys),
                    "last_step_exponent": fit_exponent(xs[-2:], ys[-2:]),
                    "predicted": PREDICTED[axis],
                }
            )
    return fits
