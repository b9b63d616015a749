"""Shared by the benchmark scripts (run as `python bench/<name>.py`, so importable as `timing`)."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def timed(label: str, function: Callable[[], T]) -> tuple[T, float]:
    """Run, print the wall time, return (value, seconds)."""
    started = time.perf_counter()
    value = function()
    elapsed = time.perf_counter() - started
    print(f"{label}: {elapsed:.2f} s", flush=True)
    return value, elapsed
