"""Strict settings for the whole suite.

float64 is enabled so that both dtypes can be tested in one process (every
test names its dtype explicitly), and rank promotion raises, so an implicit
broadcast of a vector against a matrix is an error rather than a silent
change of meaning.
"""

import jax
import pytest
from hypothesis import HealthCheck, settings

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

# Compilation makes the first example of each property slow: no deadline.
settings.register_profile(
    "default",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("default")


@pytest.fixture(autouse=True)
def _strict_jax_config():
    """Fails a test that turns the strict settings off without restoring them."""
    yield
    assert jax.config.jax_numpy_rank_promotion == "raise"
    assert jax.config.jax_enable_x64
