"""What a user may see, as codes: district code, township code, school code.

Users are configured by people, often by name (``township = "将官池镇"``, ``school = "…中心小学"``). Names are
ambiguous (two schools share their first 31 characters, two counties each have a 城关镇), so every name is
resolved here, once, to its code through the reference data (the bureau's own ``$KONGCHUO_HOME/reference/
townships.csv`` / ``schools.csv``, else the bundled ones). A name that matches no code or several is not
guessed: the user gets a ``scope_error`` and is refused at login and on every download.
"""

from __future__ import annotations

import csv
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from kongchuo.districts import DISTRICT_NAMES
from kongchuo.settings import reference_file


@dataclass(frozen=True)
class Reference:
    """Township and school names with their codes, from the reference CSV files."""

    townships: tuple[tuple[str, str, str], ...] = ()   # (township_code, township_name, district_code)
    schools: tuple[tuple[str, str, str], ...] = ()     # (school_code, school_name, township_code)
    _by_code: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, home: Path) -> "Reference":
        townships = tuple((r["township_code"], r["township_name"], r["district_code"])
                          for r in _read_csv(reference_file(home, "townships.csv")))
        schools = tuple((r["school_code"], r["school_name"], r["township_code"])
                        for r in _read_csv(reference_file(home, "schools.csv")))
        return cls(townships, schools)

    def school_name(self, code: str | None) -> str | None:
        if not self._by_code:
            self._by_code.update({c: n for c, n, _ in self.schools})
        return self._by_code.get(code or "")

    def township_codes(self, name: str, district_code: str | None) -> set[str]:
        return {c for c, n, d in self.townships if n == name and (not district_code or d == district_code)}

    def school_codes(self, name: str, township_code: str | None) -> set[str]:
        return {c for c, n, t in self.schools if n == name and (not township_code or t == township_code)}


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]
    except OSError:
        return []


def _one(codes: set[str]) -> str | None:
    return next(iter(codes)) if len(codes) == 1 else None


def district_code_of(name: str) -> str | None:
    return _one({code for code, n in DISTRICT_NAMES.items() if n == name})


def resolve(user, reference: Reference):
    """The user with ``district_code``, ``township_code`` and ``school_code`` filled in from names, or with a
    ``scope_error`` saying which name could not be resolved to exactly one code."""
    district = user.district_code
    if user.district and not district:
        district = district_code_of(user.district)
        if district is None:
            return replace(user, scope_error=f"区县名称“{user.district}”无法对应唯一的行政区划代码")
    township = user.township_code
    if user.role in ("township", "school") and user.township and not township:
        township = _one(reference.township_codes(user.township, district))
        if township is None and user.role == "township":
            return replace(user, district_code=district,
                           scope_error=f"乡镇名称“{user.township}”无法对应唯一的乡镇代码，请配置 township_code")
    school = user.school_code
    if user.role == "school" and not school:
        school = _one(reference.school_codes(user.school or "", township))
        if school is None:
            return replace(user, district_code=district, township_code=township,
                           scope_error=f"学校名称“{user.school}”无法对应唯一的学校标识码，请配置 school_code")
    return replace(user, district_code=district, township_code=township, school_code=school)


class ReferenceCache:
    """The reference data, re-read when either CSV changes (a bureau may replace its own files)."""

    def __init__(self, home: Path):
        self.home = Path(home)
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._ref = Reference()
        self.version = 0  # counts reloads, so users resolved against older data are resolved again

    def get(self) -> Reference:
        paths = [reference_file(self.home, n) for n in ("townships.csv", "schools.csv")]
        stamp = tuple((str(p), p.stat().st_mtime_ns if p.exists() else 0) for p in paths)
        with self._lock:
            if stamp != self._stamp:
                self._ref, self._stamp = Reference.load(self.home), stamp
                self.version += 1
            return self._ref
