"""``python -m kongchuo.generate --district 411003 --students 100000 --seed 7 --start 2026-03-02
--end 2026-06-30 --out DIR [--profile demo] [--rate DQ08=0.01 ...] [--attendance absence_only] [--real-shapes 0.5]``"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from . import generate
from .profiles import PROFILES, profile


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="python -m kongchuo.generate",
                                          description="Generate a synthetic district (landing files + ground truth).")
    p.add_argument("--district", default="411003", help="411003 (建安区) or 341802 (宣州区)")
    p.add_argument("--students", type=int, default=2000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 3, 2))
    p.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 6, 30))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--profile", default="", choices=["", *PROFILES], metavar="NAME",
                   help="demo: the bundled sample's spread (every reference school, higher planted-case rates, "
                        "casework over the whole range); --rate still overrides its rates")
    p.add_argument("--rate", action="append", default=[], metavar="CASE=RATE",
                   help="override an anomaly or background rate, e.g. DQ08=0.01 (repeatable)")
    p.add_argument("--attendance", default="rollcall", choices=["rollcall", "absence_only"],
                   help="rollcall: one row per student per school day; absence_only: only non-present rows, "
                        "plus reference/school_calendar.csv")
    p.add_argument("--real-shapes", type=_share, default=0.0, metavar="SHARE",
                   help="share (0-1) of the files written in real export shapes: national registry export, "
                        "legacy .xls with title and 合计 rows, sheets per grade with a hidden stale sheet, "
                        "month grids, public-security extracts ... (default 0: every file tidy)")
    p.add_argument("--registry-changes", type=dt.date.fromisoformat, default=None, metavar="OLD_DATE",
                   help="also write an older registry snapshot dated OLD_DATE with planted changes (R8 学籍异动梳理) "
                        "and registry_changes_truth.csv (default: none, output unchanged)")
    return p


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a share between 0 and 1, not {text}")
    return value


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    meta = generate(args.district, args.students, args.seed, args.start, args.end, args.out,
                    rates=profile(args.profile).make_rates(args.rate), attendance=args.attendance,
                    real_shapes=args.real_shapes, registry_changes=args.registry_changes, profile=args.profile)
    took = time.perf_counter() - t0
    rows = {}
    for f in meta.files:
        rows[f["source"]] = rows.get(f["source"], 0) + f["rows"]
    print(f"{meta.district_name} {meta.students} students, {meta.schools} schools, {meta.school_days} school days, "
          f"{len(meta.files)} files in {took:.1f}s -> {args.out}")
    print("rows: " + ", ".join(f"{k}={v}" for k, v in rows.items()))
    print("cases: " + ", ".join(f"{k}={v}" for k, v in meta.case_counts.items()))
    shaped: dict[str, int] = {}
    for f in meta.files:
        if f.get("shape", "tidy") != "tidy":
            shaped[f"{f['source']}/{f['shape']}"] = shaped.get(f"{f['source']}/{f['shape']}", 0) + 1
    if shaped:
        print("real shapes: " + ", ".join(f"{k}={v}" for k, v in shaped.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
