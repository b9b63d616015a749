"""Ratios of cumulative counters over a window, and the severity they earn. Pure logic."""

from dataclasses import dataclass


@dataclass(frozen=True)
class WindowedRatio:
    numerator: float
    denominator: float
    since_restart: bool  # counters went down: the process restarted, so totals are used

    @property
    def ratio(self) -> float:
        if not self.denominator:
            return 1.0 if self.numerator else 0.0
        return self.numerator / self.denominator


def windowed_ratio(
    current: dict[str, float], previous: dict[str, float], numerator: str, denominator: str
) -> WindowedRatio:
    """`numerator / denominator` over what happened since `previous` was taken.

    A counter lower than before means the process restarted (counters start at zero), so
    the current totals are the window. With no previous reading the totals are used too.
    """
    now_n, now_d = current.get(numerator, 0.0), current.get(denominator, 0.0)
    if numerator not in previous or denominator not in previous:
        return WindowedRatio(now_n, now_d, since_restart=False)
    before_n, before_d = previous[numerator], previous[denominator]
    if now_n < before_n or now_d < before_d:
        return WindowedRatio(now_n, now_d, since_restart=True)
    return WindowedRatio(now_n - before_n, now_d - before_d, since_restart=False)
