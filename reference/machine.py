"""What a result was measured on: processor, accelerator, software, load.

The one machine description; ``manualgrad verify`` and the benchmarks both
report it. ``platform`` is JAX's backend ("cpu", "gpu", "tpu"); ``os`` is
the operating system.
"""

from __future__ import annotations

import os
import platform
import sys

import jax
import jaxlib
import numpy as np

__all__ = ["cpu_model", "describe_machine", "load_average"]


def cpu_model() -> str:
    """The processor's model name from /proc/cpuinfo, else what Python knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, where the system reports them.

    Timings share the processor with whatever else runs; a load above the
    core count means other work competed with the measurement.
    """
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def describe_machine() -> dict[str, object]:
    """The machine and software versions, JSON-ready.

    Returns:
      A dict with cpu_model, cpu_cores, usable_cores, platform (JAX's
      backend), device_kind, device_count, jax_version, jaxlib_version,
      numpy_version, python_version and os.
    """
    device = jax.devices()[0]
    try:
        usable_cores = len(os.sched_getaffinity(0))
    except AttributeError:
        usable_cores = os.cpu_count()
    return {
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "usable_cores": usable_cores,
        "platform": device.platform,
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "numpy_version": np.__version__,
        "python_version": sys.version.split()[0],
        "os": platform.platform(),
    }
