"""Province-size synthetic data in bounded memory: one county chunk per region code, merged into one folder.

``generate_province(counties, students, seed, start, end, out, attendance, workers=2) -> ProvinceMeta``

A single :func:`kongchuo.generate.generate` call cannot make 15M students: ID numbers are region code + birth
date + 3-digit sequence (at most ~3.6M children per region code over ten birth years), and one call holds
the whole district in memory (1M students ≈ 3.5 GB). So a province is generated as one county per region
code, each by ``generate(county, n, county_seed(seed, county), ...)`` in a worker process of its own
(``kongchuo.workers.spawn_executor(workers)``, so peak memory ≈ ``workers`` × one county), into ``out/.chunks/<county>/``, and then merged into the district layout:

- ``out/landing/<source>/<county>_<file name>``: every landing file of every county, hard-linked (copied
  where links are impossible) from its chunk, so the merge costs no disk and no time and can be repeated;
- ``out/reference/townships.csv``, ``schools.csv`` and ``school_calendar.csv`` (when the generator writes
  one): the counties' files concatenated in county order, exact duplicate rows dropped (the calendar is
  the same for every county);
- ``out/ground_truth.csv``: the counties' ground truths concatenated, streamed (one header);
- ``out/meta.json``: the province (common prefecture or province code and name), every county (name, seed,
  students, schools, case counts), every file (with its county) and the summed case counts.

The union of the counties' ground truths is the province's ground truth because no child crosses a
county: every county's IDs use its own region code and migrant-origin codes ``<other province><county[2:]>``
(:func:`kongchuo.generate.reference.county_info`), disjoint between counties (checked), and school and
township codes carry the county. Counties must not be the bundled seed districts' migrant origins (checked).

Deterministic: same arguments give byte-identical output (county seeds are a hash of (seed, county); no
timestamps in meta.json). Resumable: a county chunk is complete when its marker ``.complete.json`` (written
last, atomically, with the chunk's parameters) matches; complete chunks are not regenerated, so an
interrupted generation of 15 counties loses at most the counties in progress.

File formats: no "CSV only" switch is needed. ``writers.assign_formats`` already writes XLSX only for files of
at most ``writers.XLSX_MAX_ROWS`` (30,000) rows; a 1M-student county's main registry, census and attendance
files are therefore CSV (a bureau system exporting a county cannot use XLSX beyond Excel's 1,048,576 rows),
and only the small remainder files of a county stay XLSX, as in a district.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kongchuo.districts import common_region, district_name
from kongchuo.workers import main_script_hidden, spawn_executor

# Henan: 许昌市 (5, without the bundled 建安区 411003, whose migrant origins are its neighbours), 漯河市 (3),
# 周口市 (7). School codes use county[:2] + county[3:], unique over this list.
DEFAULT_COUNTIES: tuple[str, ...] = (
    "411002", "411024", "411025", "411081", "411082",
    "411102", "411121", "411122",
    "411621", "411622", "411623", "411624", "411625", "411627", "411628",
)
CHUNKS = ".chunks"
MARKER = ".complete.json"


@dataclass
class ProvinceMeta:
    district: str            # the common prefecture or province code ('' if the counties share none)
    district_name: str
    counties: list[dict]
    students: int
    seed: int
    start: str
    end: str
    attendance: str
    reference_date: str
    periods: list[str]
    term_first_days: dict[str, str]
    school_days: int
    schools: int
    files: list[dict] = field(default_factory=list)
    case_counts: dict[str, int] = field(default_factory=dict)
    kind: str = "province"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, indent=1, sort_keys=True)


def county_seed(seed: int, county: str) -> int:
    """The generator seed of one county: a hash of (seed, county), so counties are independent."""
    digest = hashlib.sha256(f"kongchuo-province:{int(seed)}:{county}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def split_students(students: int, n: int) -> list[int]:
    """``students`` over ``n`` counties as evenly as possible (the first counties get the remainder)."""
    base, rest = divmod(int(students), n)
    return [base + (1 if i < rest else 0) for i in range(n)]


def resolve_counties(counties: list[str] | tuple[str, ...] | int) -> list[str]:
    if isinstance(counties, int):
        if not 1 <= counties <= len(DEFAULT_COUNTIES):
            raise ValueError(f"counties: 1..{len(DEFAULT_COUNTIES)} default counties, or a list of county codes")
        return list(DEFAULT_COUNTIES[:counties])
    return [str(c) for c in counties]


def check_counties(counties: list[str]) -> None:
    """Counties generated apart must never share an ID, a school code or a township code."""
    from . import reference as refmod

    if len(set(counties)) != len(counties):
        raise ValueError("counties: a county is listed twice")
    bad = [c for c in counties if not refmod.is_county_code(c)]
    if bad:
        raise ValueError(f"not 6-digit county codes: {bad}")
    school_part = [c[:2] + c[3:] for c in counties]  # reference.school_code drops county[2]
    if len(set(school_part)) != len(school_part):
        raise ValueError("counties: two counties would get the same school codes (same code without digit 3)")
    owner: dict[str, str] = {}
    for c in counties:
        for region in {c, *refmod.DISTRICTS[c]["other_regions"]}:
            if owner.setdefault(region, c) != c:
                raise ValueError(f"counties {owner[region]} and {c} would both make IDs with region code {region}")


def chunk_params(county: str, students: int, seed: int, start: dt.date, end: dt.date, attendance: str) -> dict:
    return {"county": county, "students": int(students), "seed": int(seed), "start": start.isoformat(),
            "end": end.isoformat(), "attendance": attendance}


def chunk_complete(folder: Path, params: dict) -> dict | None:
    """The marker of a complete chunk made with ``params`` (else None)."""
    marker = folder / MARKER
    try:
        done = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if done.get("params") != params or not (folder / "meta.json").exists():
        return None
    return done


def _generate_county(folder: str, params: dict) -> dict:
    """In a worker process: one county into ``folder`` (replaced), then its marker."""
    import resource

    from .core import generate

    path = Path(folder)
    shutil.rmtree(path, ignore_errors=True)
    t0 = time.perf_counter()
    generate(params["county"], params["students"], params["seed"], dt.date.fromisoformat(params["start"]),
             dt.date.fromisoformat(params["end"]), path, attendance=params["attendance"])
    done = {"params": params, "seconds": round(time.perf_counter() - t0, 1), "pid": os.getpid(),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}  # so far
    fd, tmp = tempfile.mkstemp(prefix=".marker-", dir=path)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(done, fh, indent=1)
    os.replace(tmp, path / MARKER)
    return done


def generate_chunks(counties: list[str], sizes: list[int], seed: int, start: dt.date, end: dt.date, out: Path,
                    attendance: str, workers: int = 2, log: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Every county's chunk under ``out/.chunks/`` (complete ones kept); their markers by county."""
    log = log or (lambda *_: None)
    done: dict[str, dict] = {}
    todo: list[tuple[str, dict]] = []
    for county, n in zip(counties, sizes):
        params = chunk_params(county, n, county_seed(seed, county), start, end, attendance)
        folder = out / CHUNKS / county
        marker = chunk_complete(folder, params)
        if marker is not None:
            done[county] = marker
            log(f"province: county {county} already generated ({n:,} students), kept")
        else:
            todo.append((str(folder), params))
    if not todo:
        return done
    # spawn (kongchuo.workers): fork from a process that already runs threads (pyarrow, DuckDB, a test
    # runner's) crashed the forked child in the garbage collector. The caller's script is hidden from the
    # workers while they start, so a script without a main guard is not re-run. A worker does its counties
    # one after another, so its peak is one county's (the big numpy arrays go back to the OS between counties).
    pool = spawn_executor(max(1, min(int(workers), len(todo))))
    try:
        with main_script_hidden():  # workers start in submit()
            futures = {pool.submit(_generate_county, folder, params): params["county"] for folder, params in todo}
        for future in as_completed(futures):
            county = futures[future]
            done[county] = marker = future.result()
            log(f"province: county {county} generated ({marker['params']['students']:,} students) in "
                f"{marker['seconds']:.1f} s, worker peak RSS so far {marker['peak_rss_mib']:,} MiB "
                f"({len(done)}/{len(counties)})")
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return done


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _merge_reference(chunks: list[Path], dest: Path) -> None:
    import pandas as pd

    names = sorted({p.name for c in chunks for p in (c / "reference").glob("*.csv")})
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        parts = [pd.read_csv(c / "reference" / name, dtype=str, keep_default_na=False)
                 for c in chunks if (c / "reference" / name).exists()]
        df = pd.concat(parts, ignore_index=True).fillna("").drop_duplicates(keep="first")
        df.to_csv(dest / name, index=False, lineterminator="\n")


def _merge_truth(chunks: list[Path], dest: Path) -> None:
    header = None
    with open(dest, "wb") as out:
        for c in chunks:
            with open(c / "ground_truth.csv", "rb") as fh:
                first = fh.readline()
                if header is None:
                    header = first
                    out.write(first)
                elif first != header:
                    raise ValueError(f"ground_truth.csv of {c.name} has other columns")
                shutil.copyfileobj(fh, out, 1 << 20)


def merge(counties: list[str], out: Path, attendance: str) -> ProvinceMeta:
    """Merge the complete chunks of ``counties`` into ``out`` (landing, reference, ground truth, meta.json)."""

    chunks = [out / CHUNKS / c for c in counties]
    for sub in ("landing", "reference"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for name in ("ground_truth.csv", "meta.json"):
        (out / name).unlink(missing_ok=True)
    files: list[dict] = []
    reference_files: dict[str, dict] = {}  # files outside landing/ (reference/school_calendar.csv): merged, once
    summaries: list[dict] = []
    metas = []
    for county, chunk in zip(counties, chunks):
        meta = json.loads((chunk / "meta.json").read_text(encoding="utf-8"))
        metas.append(meta)
        listed = {}
        for f in meta["files"]:
            if Path(f["path"]).parts[0] == "landing":
                listed[f["path"]] = f
            else:
                reference_files.setdefault(f["path"], dict(f))
        on_disk = sorted(str(p.relative_to(chunk)) for p in (chunk / "landing").rglob("*") if p.is_file())
        for rel in sorted(set(on_disk) | set(listed)):
            parts = Path(rel).parts
            if len(parts) != 3 or parts[0] != "landing":
                raise ValueError(f"unexpected landing file in county {county}: {rel}")
            dst = Path("landing") / parts[1] / f"{county}_{parts[2]}"
            _link(chunk / rel, out / dst)
            entry = dict(listed.get(rel, {"source": parts[1]}))
            entry.update(path=str(dst), county=county)
            files.append(entry)
        summaries.append({"county": county, "name": meta["district_name"], "seed": meta["seed"],
                          "students": meta["students"], "schools": meta["schools"], "files": len(on_disk),
                          "case_counts": meta["case_counts"]})
    _merge_reference(chunks, out / "reference")
    for rel, entry in sorted(reference_files.items()):
        with open(out / rel, "rb") as fh:
            entry["rows"] = max(0, sum(1 for _ in fh) - 1)
        files.append(entry)
    _merge_truth(chunks, out / "ground_truth.csv")
    first = metas[0]
    for key in ("start", "end", "reference_date", "periods", "term_first_days", "school_days"):
        if any(m[key] != first[key] for m in metas):
            raise ValueError(f"counties disagree on {key}")
    cases: dict[str, int] = {}
    for m in metas:
        for k, v in m["case_counts"].items():
            cases[k] = cases.get(k, 0) + int(v)
    region = common_region(counties)
    pm = ProvinceMeta(
        district=region, district_name=district_name(region) if region else "", counties=summaries,
        students=sum(m["students"] for m in metas), seed=0, start=first["start"], end=first["end"],
        attendance=attendance, reference_date=first["reference_date"], periods=first["periods"],
        term_first_days=first["term_first_days"], school_days=first["school_days"],
        schools=sum(m["schools"] for m in metas), files=files, case_counts=dict(sorted(cases.items())))
    return pm


def generate_province(counties: list[str] | int, students: int, seed: int, start: dt.date | str,
                      end: dt.date | str, out: Path, attendance: str = "rollcall", workers: int = 2,
                      log: Callable[[str], None] | None = None) -> ProvinceMeta:
    """Generate ``students`` children over ``counties`` (codes, or the first n of :data:`DEFAULT_COUNTIES`)
    into ``out`` with the layout of one generated district (see the module docstring)."""
    start = dt.date.fromisoformat(start) if isinstance(start, str) else start
    end = dt.date.fromisoformat(end) if isinstance(end, str) else end
    codes = resolve_counties(counties)
    check_counties(codes)
    sizes = split_students(students, len(codes))
    if min(sizes) < 1:
        raise ValueError("fewer students than counties")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    generate_chunks(codes, sizes, seed, start, end, out, attendance, workers, log)
    pm = merge(codes, out, attendance)
    pm.seed = int(seed)
    (out / "meta.json").write_text(pm.to_json() + "\n", encoding="utf-8")
    return pm


def main(argv: list[str] | None = None) -> int:
    """``python -m kongchuo.generate.province --counties 15 --students 15000000 --seed 7 --start 2026-05-01
    --end 2026-05-31 --out DIR [--attendance absence_only] [--workers 2]``"""
    import argparse

    p = argparse.ArgumentParser(prog="python -m kongchuo.generate.province", description=main.__doc__)
    p.add_argument("--counties", default="15", help="a number (first n default Henan counties) or codes a,b,c")
    p.add_argument("--students", type=int, required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", type=dt.date.fromisoformat, required=True)
    p.add_argument("--end", type=dt.date.fromisoformat, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--attendance", default="rollcall")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    counties: list[str] | int = int(a.counties) if a.counties.isdigit() and len(a.counties) < 6 else a.counties.split(",")
    t0 = time.perf_counter()
    pm = generate_province(counties, a.students, a.seed, a.start, a.end, a.out, a.attendance, a.workers, log=print)
    print(f"{pm.district_name or 'province'}: {len(pm.counties)} counties, {pm.students:,} students, "
          f"{len(pm.files)} files in {time.perf_counter() - t0:.1f} s -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
