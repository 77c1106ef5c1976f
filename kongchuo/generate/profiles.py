"""Named generator profiles (CLI ``--profile NAME``): a school spread, planted-case rates and casework timing for
one purpose, on top of the defaults every other caller (tests, benchmarks) keeps.

``demo`` is the bundled sample (``data/sample``, ``make demo``, the portal): its 2000 students are spread over
every school of the bundled reference data (R1 lists every school of the district, 零报告: with the default 5
schools, 144 of the 149 rows were zeros), planted cases are ~2-3x the default rates so most townships and many
schools have something to report every month, and persuasion work starts throughout the term (not only in its
first weeks), so escalations, returns and attempts fall in every month. ``--rate CASE=RATE`` still
overrides a profile's rate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .core import Rates


@dataclass(frozen=True)
class Profile:
    name: str
    per_school: int = 900   # students per selected school (0: every reference school): reference.select_schools
    spread_casework: bool = False  # first persuasion attempts spread over the range (default: its first weeks)
    rates: dict[str, float] = field(default_factory=dict)  # overrides of the Rates defaults

    def make_rates(self, overrides: list[str] | None = None) -> Rates:
        """The profile's rates with ``["SD1=0.01", ...]`` (CLI ``--rate``) applied on top."""
        explicit = dataclasses.asdict(Rates.parse(overrides))  # (validates the names)
        given = {k: v for k, v in explicit.items() if _named(k, overrides)}
        return Rates(**{**dataclasses.asdict(Rates()), **self.rates, **given})


def _named(key: str, overrides: list[str] | None) -> bool:
    return any(item.partition("=")[0].strip() == key for item in overrides or [])


DEFAULT = Profile("default")

PROFILES: dict[str, Profile] = {
    "default": DEFAULT,
    "demo": Profile(
        "demo", per_school=0, spread_casework=True,
        rates={
            # suspected dropouts of every rule, in most schools and months
            "SD1": 0.012, "SD1_CROSS": 0.003, "SD2": 0.005, "SD3": 0.006, "SD4": 0.006, "SD5": 0.004,
            "SD5_MONTH": 0.008,
            # casework: escalations (R4), children in persuasion, children persuaded back
            "ESC": 0.005, "RETURNED": 0.008,
            # census children out of school (失学) in most townships; home teaching (R6)
            "OOS": 0.008, "OOS_AWAY": 0.004, "HT": 0.005,
        }),
}


def profile(name: str | None) -> Profile:
    if not name:
        return DEFAULT
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES[name]
