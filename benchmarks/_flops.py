"""Counting matrix-multiply flops, and measuring what one matmul achieves.

Only the matrix products of backpropagation are counted; the activations,
their Jacobians and the cost are O(N n) next to the O(N n^2) products. For
a layer with W_l of shape (n_l, n_{l-1}) and N rows:

* forward, Z_l = A_{l-1} W_l^T: 2 N n_l n_{l-1} flops;
* backward, grad W_l = grad_Z_l^T A_{l-1}: the same again;
* backward, grad A_{l-1} = grad_Z_l W_l: the same again, except for the
  first layer, whose input needs no gradient.

The ceiling is what one large square matmul achieves, jitted, on the same
machine in the same run: measured once at the start over a few sizes, and
then, for the best size, again interleaved with each configuration's
timings, so that a configuration's fraction of the ceiling compares
throughputs measured under the same conditions.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

#: Square sizes timed for the ceiling; the best of them is the ceiling.
CEILING_SIZES: tuple[int, ...] = (1024, 2048)
QUICK_CEILING_SIZES: tuple[int, ...] = (1024,)


def backprop_flops(dims: Sequence[int], num_rows: int) -> int:
    """Matmul flops of one forward and backward pass.

    Args:
      dims: (n_0, n_1, ..., n_L).
      num_rows: N, the number of samples (1 for a single sample).

    Returns:
      sum over layers of 2 N n_l n_{l-1} times 3 (forward, weight gradient,
      input gradient), times 2 for the first layer.
    """
    total = 0
    for l in range(1, len(dims)):
        products = 3 if l > 1 else 2
        total += products * 2 * num_rows * dims[l] * dims[l - 1]
    return total


def square_matmul(size: int, dtype: str = "float32") -> Callable[[], jax.Array]:
    """A call of a compiled (size, size) @ (size, size) product: 2 size^3 flops."""
    key_a, key_b = jax.random.split(jax.random.PRNGKey(size))
    a = jax.random.normal(key_a, (size, size), dtype)
    b = jax.random.normal(key_b, (size, size), dtype)
    compiled = jax.jit(jnp.matmul).lower(a, b).compile()
    return functools.partial(compiled, a, b)


def matmul_gflops(size: int, seconds: float) -> float:
    return 2 * size**3 / seconds / 1e9


def measure_ceiling(
    *, sizes: Sequence[int] = CEILING_SIZES, dtype: str = "float32", reps: int = 7
) -> dict[str, object]:
    """The matmul ceiling: the best GFLOP/s of a jitted square matmul.

    Each size is timed ``reps`` times after a warm-up and its median kept;
    the ceiling is the best median over the sizes, so it is what a single
    large matrix multiply reaches on this machine in this run. The benchmark
    then times the best size again beside every configuration.

    Args:
      sizes: square sizes n; one (n, n) @ (n, n) product is 2 n^3 flops.
      dtype: the dtype of both operands.
      reps: timed repetitions per size.

    Returns:
      {"gflops": best, "size": its n, "dtype": dtype, "by_size": {n: gflops}}.
    """
    by_size: dict[str, float] = {}
    for n in sizes:
        call = square_matmul(n, dtype)
        jax.block_until_ready(call())
        samples = []
        for _ in range(reps):
            start = time.perf_counter()
            jax.block_until_ready(call())
            samples.append(time.perf_counter() - start)
        by_size[str(n)] = matmul_gflops(n, float(np.median(samples)))
    best = max(by_size, key=by_size.__getitem__)
    return {"gflops": by_size[best], "size": int(best), "dtype": dtype, "by_size": by_size}
