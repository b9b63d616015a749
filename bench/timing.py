"""Shared by the benchmark scripts (run as `python bench/<name>.py`, so importable as `timing`)."""

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def timed(label: str, function: Callable[[], T]) -> tuple[T, float]:
    """Run, print the wall time, return (value, seconds)."""
    started = time.perf_counter()
    value = function()
    elapsed = time.perf_counter() - started
    print(f"{label}: {elapsed:.2f} s", flush=True)
    return value, elapsed


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of `values`, linearly interpolated (numpy's default):
    the one definition every benchmark reports, so a p99 here means a p99 there."""
    return float(np.percentile(values, q))
