"""The online figures of a version from its impressions: rates with 95% intervals.

Pure arithmetic on counts (:mod:`infra.repositories.impressions` gives them): a rate's
interval is Wilson's score interval, which stays inside [0, 1] and is honest for small
counts and rates near 0; a mean's is the normal one, mean ± z·sd/√n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Rate:
    value: float | None  # None: nothing to divide by
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


def wilson(successes: int, trials: int, z: float = Z95) -> Rate:
    """``successes / trials`` with Wilson's score interval."""
    if trials <= 0:
        return Rate(None, None, None)
    if not 0 <= successes <= trials:
        raise ValueError(f"{successes} successes out of {trials} trials")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return Rate(p, max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(mean: float | None, sd: float | None, n: int, z: float = Z95) -> Rate:
    """A mean of ``n`` values with its normal interval (none below two values)."""
    if mean is None or n <= 0:
        return Rate(None, None, None)
    if sd is None or n < 2:
        return Rate(mean, None, None)
    half = z * sd / math.sqrt(n)
    return Rate(mean, mean - half, mean + half)


def version_figures(*, impressions: int, users: int, hits: int, hides: int, rated: int,
                    mean_rating: float | None, sd_rating: float | None) -> dict[str, object]:
    """One version's online figures: counts, hit rate (impressions followed by a rating
    of a shown movie), hide rate and the mean rating of shown-then-rated movies, each
    rate with its 95% interval."""
    return {
        "impressions": impressions, "users": users, "hits": hits, "hides": hides, "rated": rated,
        "hit_rate": wilson(hits, impressions).as_dict(),
        "hide_rate": wilson(hides, impressions).as_dict(),
        "mean_rating": mean_interval(mean_rating, sd_rating, rated).as_dict(),
    }
