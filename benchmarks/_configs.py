"""The networks the benchmark times, and the sweeps that choose them.

A configuration is a batch size N, a width n (every layer, input and output
included, is n wide), a depth L and a hidden activation. Layers 1..L-1 use
the hidden activation; layer L is softmax with cross-entropy, the output
layer whose gradient has a closed form (``CrossEntropy.fused_grad_z``).

The whole grid, N x width x depth x hidden, is 144 networks; on a 2-core
CPU that takes hours. The default sweep varies one axis at a time through a
centre, adds the width axis at N = 1 (where Exercise 4's O(L n^2) for
Algorithm 1 applies), and adds corners of the (N, width) square.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Literal

BATCH_SIZES: tuple[int, ...] = (1, 64, 512, 4096)
WIDTHS: tuple[int, ...] = (64, 256, 1024)
DEPTHS: tuple[int, ...] = (2, 4, 8)
HIDDEN: tuple[str, ...] = ("relu", "sigmoid", "tanh", "softmax")
OUTPUT_ACTIVATION = "softmax"
COST = "cross_entropy"

SweepName = Literal["tiny", "quick", "default", "full"]
SWEEPS: tuple[str, ...] = ("tiny", "quick", "default", "full")


@dataclasses.dataclass(frozen=True, order=True)
class Config:
    """One network and batch.

    Attributes:
      N: rows in the batch (1: a single sample).
      width: n, the width of every layer.
      depth: L, the number of layers.
      hidden: the activation of layers 1..L-1.
    """

    N: int
    width: int
    depth: int
    hidden: str

    @property
    def dims(self) -> tuple[int, ...]:
        """(n_0, ..., n_L), all equal to the width."""
        return (self.width,) * (self.depth + 1)

    @property
    def activations(self) -> tuple[str, ...]:
        """sigma_1..sigma_L: the hidden activation, then softmax."""
        return (self.hidden,) * (self.depth - 1) + (OUTPUT_ACTIVATION,)

    def as_dict(self) -> dict[str, object]:
        return {"N": self.N, "width": self.width, "depth": self.depth, "hidden": self.hidden}

    def __str__(self) -> str:
        return f"N={self.N} n={self.width} L={self.depth} {self.hidden}"


def _through(center: Config, **axes: tuple) -> list[Config]:
    """The centre and, for each named axis, the centre with that axis varied."""
    configs = [center]
    for field, values in axes.items():
        configs += [dataclasses.replace(center, **{field: value}) for value in values]
    return configs


def sweep(name: SweepName) -> tuple[Config, ...]:
    """The configurations of a sweep, sorted, without repeats.

    Args:
      name: "tiny" (seconds: a check of the whole pipeline), "quick" (under
        two minutes on 2 cores), "default" (one axis at a time through
        N=512, n=256, L=4, relu, plus corners) or "full" (the whole grid).
    """
    if name == "tiny":
        configs = _through(Config(8, 16, 2, "tanh"), N=(1,))
    elif name == "quick":
        center = Config(64, 64, 2, "relu")
        configs = _through(center, N=(1, 512), width=(256,), depth=(4,), hidden=HIDDEN)
        configs += _through(Config(1, 64, 2, "relu"), width=(256,))
    elif name == "default":
        center = Config(512, 256, 4, "relu")
        configs = _through(center, N=BATCH_SIZES, width=WIDTHS, depth=DEPTHS, hidden=HIDDEN)
        configs += _through(Config(1, 256, 4, "relu"), width=WIDTHS)
        configs += [Config(N, n, 4, "relu") for N, n in ((4096, 64), (4096, 1024), (64, 1024))]
    elif name == "full":
        configs = [
            Config(*values) for values in itertools.product(BATCH_SIZES, WIDTHS, DEPTHS, HIDDEN)
        ]
    else:
        raise ValueError(f"unknown sweep {name!r}; valid sweeps are {', '.join(SWEEPS)}")
    return tuple(sorted(set(configs)))
