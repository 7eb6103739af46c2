"""Intervals of the real line: where an activation's outputs lie, where a cost is defined."""

from __future__ import annotations

import dataclasses
import math

__all__ = ["REALS", "Interval"]


@dataclasses.dataclass(frozen=True)
class Interval:
    """The reals between ``low`` and ``high``, each end open unless said closed.

    Attributes:
      low: the lower end (``-math.inf`` for none).
      high: the upper end (``math.inf`` for none).
      closed_low: whether ``low`` itself belongs to the interval.
      closed_high: whether ``high`` itself belongs to the interval.
    """

    low: float = -math.inf
    high: float = math.inf
    closed_low: bool = False
    closed_high: bool = False

    def contains(self, other: Interval) -> bool:
        """Whether every point of ``other`` lies in this interval."""
        low_ok = other.low > self.low or (
            other.low == self.low and (self.closed_low or not other.closed_low)
        )
        high_ok = other.high < self.high or (
            other.high == self.high and (self.closed_high or not other.closed_high)
        )
        return low_ok and high_ok

    def __str__(self) -> str:
        left = "[" if self.closed_low else "("
        right = "]" if self.closed_high else ")"
        return f"{left}{self.low:g}, {self.high:g}{right}"


#: The whole real line.
REALS = Interval()
