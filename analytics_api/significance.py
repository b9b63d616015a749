"""Significance of an experiment: the two-proportion z-test (pooled, two-sided).

Chosen over a Bayesian comparison because its output (z, p) is what experiment owners
read elsewhere and it needs no prior; with the thousands of users per group the demo
produces, the normal approximation holds (each group needs ≥ 5 successes and failures,
otherwise the result says "insufficient data" instead of a p-value).
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ZTest:
    control_rate: float
    treatment_rate: float
    lift: float | None  # relative: (treatment - control) / control
    z: float | None
    p_value: float | None
    significant: bool  # at alpha
    note: str


def two_proportion_z_test(
    control_successes: int,
    control_total: int,
    treatment_successes: int,
    treatment_total: int,
    alpha: float = 0.05,
) -> ZTest:
    control_rate = control_successes / control_total if control_total else 0.0
    treatment_rate = treatment_successes / treatment_total if treatment_total else 0.0
    lift = (treatment_rate - control_rate) / control_rate if control_rate else None
    counts = (
        control_successes,
        control_total - control_successes,
        treatment_successes,
        treatment_total - treatment_successes,
    )
    if min(counts) < 5:
        return ZTest(control_rate, treatment_rate, lift, None, None, False, "insufficient data")
    pooled = (control_successes + treatment_successes) / (control_total + treatment_total)
    error = math.sqrt(pooled * (1 - pooled) * (1 / control_total + 1 / treatment_total))
    z = (treatment_rate - control_rate) / error
    p_value = math.erfc(abs(z) / math.sqrt(2))
    significant = p_value < alpha
    note = f"{'significant' if significant else 'not significant'} at alpha={alpha}"
    return ZTest(control_rate, treatment_rate, lift, z, p_value, significant, note)
