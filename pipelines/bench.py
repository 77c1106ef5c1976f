"""``python -m pipelines.bench --scale district|city|province|smoke``: time the whole monthly run.

1. Generate the scale's synthetic data once into ``.bench_cache/<scale>/data`` (kept while the generator
   parameters in ``params.json`` match; the folder is gitignored). The province is generated county by county
   (:mod:`kongchuo.generate.province`, ``--workers`` processes, resumable per county); ``--generate-only``
   prepares the data and stops (``make bench SCALE=province GENERATE_ONLY=1``).
2. Build a fresh ``KONGCHUO_HOME`` in ``.bench_cache/<scale>/home`` whose ``landing/`` and ``reference/`` are
   hard links to the cached files (ingestion never modifies a landing file).
3. The floor: a bare DuckDB ``SELECT count(*) FROM read_csv(...)`` over every CSV (decoded as latin-1, so
   GBK files cost the same bytes without a decoder) and a full calamine read of every XLSX.
4. The run: ``kongchuo run --period <month>`` in a child process (the real Dagster graph: ingest → checks →
   derived → ledger → reports, Dagster's local storage under the home). The parent samples the RSS of
   the child and all its descendants every :data:`SAMPLE_SECONDS` with timestamps; the child writes the
   step start/end times from the run's event log. Per step: duration and the peak RSS sampled inside it.
5. The record goes to ``.bench_cache/<scale>/result.json`` and, with ``--record``, into ``BENCHMARKS.md``
   between the scale's markers. Nothing here prints an ID number or a name.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kongchuo import settings

CACHE = settings.REPO_ROOT / ".bench_cache"
BENCHMARKS_MD = settings.REPO_ROOT / "BENCHMARKS.md"
SAMPLE_SECONDS = 0.2
GIB = 1 << 30


@dataclass(frozen=True)
class Scale:
    name: str
    students: int
    start: str
    end: str
    attendance: str = "rollcall"  # or absence_only
    district: str = "411003"
    seed: int = 7
    counties: int = 0  # > 0: that many county chunks (kongchuo.generate.province), students split evenly

    @property
    def period(self) -> str:
        return self.start[:7]


SCALES: dict[str, Scale] = {
    "smoke": Scale("smoke", 400, "2026-05-01", "2026-05-31"),
    "district": Scale("district", 100_000, "2026-05-01", "2026-05-31"),
    "city": Scale("city", 1_000_000, "2026-05-01", "2026-05-31"),
    "province": Scale("province", 15_000_000, "2026-05-01", "2026-05-31", attendance="absence_only", counties=15),
}

# Targets (issue 7): seconds, bytes, ratio.
TARGETS = {"district": {"wall_s": 30, "r7_s": 10}, "province": {"wall_s": 600, "peak_rss": 6 * GIB, "r7_s": 60},
           "*": {"floor_ratio": 3.0}}


# --- data --------------------------------------------------------------------------------------------

def cache_dir(scale: Scale, root: Path = CACHE) -> Path:
    return root / scale.name


def params_of(scale: Scale) -> dict[str, Any]:
    """The generator parameters kept in ``params.json`` (``counties`` only when set, so the caches of the
    single-district scales stay valid)."""
    want = asdict(scale)
    if not scale.counties:
        want.pop("counties")
    return want


def ensure_data(scale: Scale, root: Path = CACHE, log=print, workers: int = 2) -> tuple[Path, float | None]:
    """The scale's generated data (generated now if missing or made with other parameters)."""
    folder = cache_dir(scale, root)
    data, params = folder / "data", folder / "params.json"
    want = params_of(scale)
    if params.exists() and json.loads(params.read_text()) == want and (data / "meta.json").exists():
        return data, None
    start, end = dt.date.fromisoformat(scale.start), dt.date.fromisoformat(scale.end)
    t0 = time.perf_counter()
    if scale.counties:
        from kongchuo.generate.province import generate_province

        # no rmtree: complete county chunks under data/.chunks are kept (each checks its own parameters)
        params.unlink(missing_ok=True)
        log(f"bench: generating {scale.name} ({scale.students:,} students in {scale.counties} counties, "
            f"{scale.start}..{scale.end}, {scale.attendance}, {workers} workers) into {data}")
        generate_province(scale.counties, scale.students, scale.seed, start, end, data,
                          attendance=scale.attendance, workers=workers, log=log)
    else:
        if scale.students > 3_000_000:
            raise SystemExit(f"bench {scale.name}: {scale.students:,} students do not fit one region code; "
                             f"set counties (kongchuo.generate.province)")
        shutil.rmtree(data, ignore_errors=True)
        log(f"bench: generating {scale.name} ({scale.students:,} students, {scale.start}..{scale.end}) into {data}")
        from kongchuo.generate import generate

        generate(scale.district, scale.students, scale.seed, start, end, data, attendance=scale.attendance)
    took = time.perf_counter() - t0
    params.write_text(json.dumps(want, indent=1))
    return data, took


def input_files(data: Path) -> list[Path]:
    return sorted(p for p in (data / "landing").glob("*/*") if p.is_file())


def fresh_home(data: Path, home: Path) -> None:
    """A new KONGCHUO_HOME whose landing and reference files are hard links to the cached data."""
    shutil.rmtree(home, ignore_errors=True)
    for sub in ("landing", "reference"):
        for src in sorted((data / sub).rglob("*")):
            if src.is_file():
                dst = home / sub / src.relative_to(data / sub)
                dst.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(src, dst)
                except OSError:
                    shutil.copy2(src, dst)
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    (home / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")


# --- the floor -----------------------------------------------------------------------------------------

def floor(files: list[Path]) -> dict[str, Any]:
    """Seconds to read every input once: DuckDB count(*) over each CSV, calamine over each XLSX."""
    import duckdb
    from python_calamine import CalamineWorkbook

    con = duckdb.connect()
    csv_s = xlsx_s = 0.0
    rows = 0
    for path in files:
        t0 = time.perf_counter()
        if path.suffix.lower() == ".csv":
            # DuckDB decodes UTF-8 only (other encodings need an extension download): ignore_errors lets a GBK
            # file through, still reading every byte once.
            n = con.execute("SELECT count(*) FROM read_csv(?, all_varchar=true, header=false, ignore_errors=true)",
                            [str(path)]).fetchone()[0]
            rows += n
            csv_s += time.perf_counter() - t0
        else:
            sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
            rows += sum(1 for _ in sheet.iter_rows())
            xlsx_s += time.perf_counter() - t0
    con.close()
    return {"seconds": round(csv_s + xlsx_s, 2), "csv_seconds": round(csv_s, 2), "xlsx_seconds": round(xlsx_s, 2),
            "rows": rows}


# --- the run -------------------------------------------------------------------------------------------

class TreeSampler(threading.Thread):
    """RSS of a process and all its descendants, sampled with timestamps (epoch seconds)."""

    def __init__(self, pid: int, every: float = SAMPLE_SECONDS):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.samples.append((time.time(), total))
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peak(self, lo: float = 0.0, hi: float = float("inf")) -> int:
        inside = [rss for t, rss in self.samples if lo <= t <= hi]
        if not inside:  # a step shorter than the sampling interval: the last sample before its end
            inside = [rss for t, rss in self.samples if t <= hi][-1:]
        return max(inside) if inside else 0


def child_main(period: str, steps_out: Path, profile: Path | None) -> int:
    """In the child: the CLI's run, then the step times of the run from the Dagster event log."""
    from pipelines.cli import _dagster_home
    _dagster_home()
    import dagster as dg

    from pipelines.run import run_period

    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.01)
        profiler.start()
    t0 = time.time()
    instance = dg.DagsterInstance.get()
    outcome = run_period(period, instance=instance)
    t1 = time.time()
    if profiler:
        profiler.stop()
        profile.write_text(profiler.output_html(), encoding="utf-8")
        profile.with_suffix(".txt").write_text(profiler.output_text(unicode=True, show_all=False), encoding="utf-8")
    day, warn_s, warn_ok = _warn_last_day(period, instance)
    steps: dict[str, dict[str, float]] = {}
    for entry in instance.all_logs(outcome.run_id):
        ev = entry.dagster_event
        if ev is None or not entry.step_key:
            continue
        s = steps.setdefault(entry.step_key, {})
        if ev.event_type_value == "STEP_START":
            s["start"] = entry.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            s["end"] = entry.timestamp
            s["status"] = ev.event_type_value
    steps_out.write_text(json.dumps({
        "run_id": outcome.run_id, "success": outcome.success, "run_start": t0, "run_end": t1,
        "failed_checks": [list(c) for c in outcome.failed_checks], "skipped": outcome.skipped,
        "error": outcome.error, "steps": steps, "r7_day": day, "r7_seconds": warn_s, "r7_success": warn_ok},
        indent=1), encoding="utf-8")
    return 0


def _warn_last_day(period: str, instance) -> tuple[str | None, float | None, bool]:
    """R7 for the period's last school day with roll-call rows (issue 18's benchmark): one daily run, timed."""
    from kongchuo import settings as kc_settings
    from pipelines.run import run_period
    from warehouse.partitions import period_bounds
    from warehouse.resource import WarehouseResource

    wh = WarehouseResource(url=kc_settings.warehouse_url())
    try:
        last = wh.scalar("SELECT max(date) FROM staged.attendance_current WHERE date <= :end",
                         {"end": period_bounds(period)[1]})
    finally:
        wh.dispose()
    if last is None:
        return None, None, False
    day = str(last)[:10]
    t0 = time.time()
    outcome = run_period(day, instance=instance)
    return day, round(time.time() - t0, 2), outcome.success


def stage_of(step: str) -> str:
    if step.startswith("staged__"):
        return "ingest"
    if step.startswith("derived__"):
        return "derived"
    if step.startswith("ledger__"):
        return "ledger"
    if step.startswith("reports__"):
        return "reports"
    return "other"


def machine() -> dict[str, Any]:
    import psutil

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "ram_gib": round(psutil.virtual_memory().total / GIB, 1), "cpu": cpu,
            "python": platform.python_version()}


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=settings.REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=settings.REPO_ROOT,
                               capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def bench(scale: Scale, root: Path = CACHE, profile: bool = False, log=print, workers: int = 2) -> dict[str, Any]:
    data, gen_s = ensure_data(scale, root, log, workers)
    files = input_files(data)
    folder = cache_dir(scale, root)
    home = folder / "home"
    fresh_home(data, home)
    load_before = os.getloadavg()
    commit = git_commit()  # the code the run imports: read before it starts
    log(f"bench {scale.name}: floor over {len(files)} files")
    fl = floor(files)
    steps_json = folder / "steps.json"
    steps_json.unlink(missing_ok=True)
    env = {**os.environ, "KONGCHUO_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
           "GX_ANALYTICS_ENABLED": "false", "DAGSTER_DISABLE_TELEMETRY": "true",
           "KONGCHUO_ATTENDANCE_MODE": scale.attendance}
    env.pop("KONGCHUO_WAREHOUSE_URL", None)
    cmd = [sys.executable, "-m", "pipelines.bench", "_child", "--period", scale.period, "--steps", str(steps_json)]
    if profile:
        cmd += ["--profile", str(folder / "profile.html")]
    log(f"bench {scale.name}: run {scale.period} (load {load_before[0]:.2f})")
    cpu0 = _children_cpu()
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=env, cwd=settings.REPO_ROOT)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    rc = proc.wait()
    t1 = time.time()
    sampler.stop()
    run_cpu = _children_cpu() - cpu0
    if rc != 0 or not steps_json.exists():
        raise SystemExit(f"bench {scale.name}: the run process failed (exit {rc})")
    log(f"bench {scale.name}: plain-pandas baseline")
    base = baseline(data, scale, home)
    load_after = os.getloadavg()
    run = json.loads(steps_json.read_text())
    steps = []
    for key, s in sorted(run["steps"].items(), key=lambda kv: kv[1].get("start", 0)):
        start, end = s.get("start"), s.get("end", s.get("start"))
        if start is None:
            continue
        steps.append({"step": key, "stage": stage_of(key), "seconds": round(end - start, 2),
                      "peak_rss_mib": round(sampler.peak(start, end) / (1 << 20)), "status": s.get("status")})
    stages: dict[str, dict[str, float]] = {}
    for s in steps:
        st = stages.setdefault(s["stage"], {"seconds": 0.0, "steps": 0, "peak_rss_mib": 0})
        st["seconds"] = round(st["seconds"] + s["seconds"], 2)
        st["steps"] += 1
        st["peak_rss_mib"] = max(st["peak_rss_mib"], s["peak_rss_mib"])
    in_steps = sum(s["seconds"] for s in steps)
    wall = t1 - t0
    meta = json.loads((data / "meta.json").read_text(encoding="utf-8"))
    rows: dict[str, int] = {}
    for f in meta.get("files", []):
        rows[f["source"]] = rows.get(f["source"], 0) + int(f["rows"])
    record = {
        "scale": scale.name, "students": scale.students, "period": scale.period, "attendance": scale.attendance,
        "when": dt.datetime.now().isoformat(timespec="seconds"), "commit": commit,
        "command": f"make bench SCALE={scale.name}", "machine": machine(),
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
        "generate_seconds": None if gen_s is None else round(gen_s, 1),
        "inputs": {"files": len(files), "bytes": sum(p.stat().st_size for p in files), "rows": rows},
        "success": run["success"], "failed_checks": run["failed_checks"], "skipped": run["skipped"],
        "error": run["error"],
        "wall_seconds": round(wall, 2), "cpu_seconds": round(run_cpu, 2),
        "run_seconds": round(run["run_end"] - run["run_start"], 2),
        "startup_seconds": round(run["run_start"] - t0, 2), "steps_seconds": round(in_steps, 2),
        "peak_rss_mib": round(sampler.peak() / (1 << 20)), "rss_samples": len(sampler.samples),
        "floor": fl, "floor_ratio": round(wall / fl["seconds"], 2) if fl["seconds"] else None,
        "stages": stages, "steps": steps,
        "r7_day": run.get("r7_day"), "r7_seconds": run.get("r7_seconds"), "r7_success": run.get("r7_success"),
        "baseline": base,
    }
    record["targets"] = evaluate_targets(record)
    (folder / "result.json").write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    return record


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children (and the children they waited for)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def baseline(data: Path, scale: Scale, home: Path) -> dict[str, Any] | None:
    """The plain-pandas script (:mod:`kongchuo.baseline`) on the same landing files, in its own process (wall
    and CPU like the run's), its SD1/SD5/失学 counts beside kongchuo's from the run's warehouse, and
    kongchuo's speed-up over it (baseline seconds / kongchuo seconds: above 1, kongchuo is faster).
    Not for absence-only data (SD5 cannot be told from missing rows there)."""
    if scale.attendance != "rollcall":
        return None
    out = data.parent / "baseline.json"  # .bench_cache/<scale>/
    out.unlink(missing_ok=True)
    cpu0 = _children_cpu()
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", "import json, sys; from pathlib import Path; "
                           "from kongchuo.baseline import run; "
                           "Path(sys.argv[3]).write_text(json.dumps(run(Path(sys.argv[1]), sys.argv[2])))",
                           str(data), scale.period, str(out)], cwd=settings.REPO_ROOT)
    wall, cpu = time.time() - t0, _children_cpu() - cpu0
    if proc.returncode != 0 or not out.exists():
        return {"error": f"exit {proc.returncode}"}
    result = json.loads(out.read_text())
    return {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "counts": {
                k: result[k] for k in ("SD1", "SD5", "out_of_school")},
            "kongchuo_counts": kongchuo_counts(f"duckdb:///{home / 'warehouse.duckdb'}", scale.period)}


def kongchuo_counts(warehouse_url: str, period: str) -> dict[str, int]:
    """SD1, SD5 and 失学 from kongchuo's derived tables after its run (the baseline's three counts)."""
    from warehouse.resource import WarehouseResource

    wh = WarehouseResource(url=warehouse_url)
    try:
        rules = wh.query_df("SELECT rules FROM derived.suspected_dropouts WHERE period = :p",
                            {"p": period})["rules"].fillna("").str.split(",")
        oos = wh.scalar("SELECT count(*) FROM derived.out_of_school WHERE period = :p", {"p": period})
        return {"SD1": int(rules.map(lambda r: "SD1" in r).sum()), "SD5": int(rules.map(lambda r: "SD5" in r).sum()),
                "out_of_school": int(oos or 0)}
    finally:
        wh.dispose()


def evaluate_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    t = {**TARGETS["*"], **TARGETS.get(r["scale"], {})}
    if "wall_s" in t:
        out.append({"target": f"full run ≤ {t['wall_s']} s", "value": f"{r['wall_seconds']:.1f} s",
                    "met": r["wall_seconds"] <= t["wall_s"]})
    if "peak_rss" in t:
        out.append({"target": f"peak RSS ≤ {t['peak_rss'] / GIB:.0f} GiB",
                    "value": f"{r['peak_rss_mib'] / 1024:.2f} GiB", "met": r["peak_rss_mib"] * (1 << 20) <= t["peak_rss"]})
    if r.get("r7_seconds") is not None and "r7_s" in t:
        out.append({"target": f"R7 one school day ≤ {t['r7_s']} s", "value": f"{r['r7_seconds']:.1f} s",
                    "met": bool(r.get("r7_success")) and r["r7_seconds"] <= t["r7_s"]})
    if r.get("floor_ratio") is not None:
        out.append({"target": f"whole run / floor ≤ {t['floor_ratio']:.0f}", "value": f"{r['floor_ratio']:.1f}",
                    "met": r["floor_ratio"] <= t["floor_ratio"]})
    return out


# --- the record ------------------------------------------------------------------------------------------

def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        f"### {r['scale']}: {r['students']:,} students, period {r['period']} ({r['attendance']} attendance)",
        "",
        f"- command: `{r['command']}`; commit `{r['commit']}`; {r['when']}",
        f"- machine: {m['nproc']} cores, {m['ram_gib']} GiB RAM, {m['cpu']}; Python {m['python']}; "
        f"load average before {r['load_before']}, after {r['load_after']}",
        f"- inputs: {r['inputs']['files']} files, {r['inputs']['bytes'] / (1 << 20):,.0f} MiB, rows "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(r["inputs"]["rows"].items())),
        f"- result: {'success' if r['success'] else 'FAILED'}"
        + (f"; failed checks {len(r['failed_checks'])}" if r["failed_checks"] else "")
        + (f"; not materialized {len(r['skipped'])}" if r["skipped"] else ""),
        f"- **whole run {r['wall_seconds']:.1f} s** (process start-up and imports {r['startup_seconds']:.1f} s, "
        f"Dagster run {r['run_seconds']:.1f} s, inside steps {r['steps_seconds']:.1f} s); "
        f"**peak RSS {r['peak_rss_mib']:,} MiB** (process tree, {r['rss_samples']} samples); "
        f"CPU {r.get('cpu_seconds', 0):.1f} s (user + system, process tree: less sensitive to the load than wall time)",
        f"- floor: {r['floor']['seconds']:.1f} s (DuckDB read_csv count {r['floor']['csv_seconds']:.1f} s, "
        f"calamine XLSX {r['floor']['xlsx_seconds']:.1f} s, {r['floor']['rows']:,} rows); "
        f"**whole run / floor = {r['floor_ratio']}**",
        *_baseline_lines(r),
        f"- R7 每日预警 for {r.get('r7_day')}: one daily run (Dagster) {r.get('r7_seconds')} s"
        + ("" if r.get("r7_success") else " (**FAILED**)"),
        "- targets: " + "; ".join(f"{t['target']}: {t['value']} {'met' if t['met'] else '**NOT met**'}"
                                  for t in r["targets"]),
        "",
        "| stage | steps | seconds | peak RSS MiB |",
        "|---|---:|---:|---:|",
    ]
    for name, s in r["stages"].items():
        lines.append(f"| {name} | {s['steps']} | {s['seconds']:.1f} | {s['peak_rss_mib']:,} |")
    lines += ["", "<details><summary>per step</summary>", "", "| step | seconds | peak RSS MiB |", "|---|---:|---:|"]
    for s in sorted(r["steps"], key=lambda s: -s["seconds"]):
        lines.append(f"| {s['step']} | {s['seconds']:.2f} | {s['peak_rss_mib']:,} |")
    lines += ["", "</details>"]
    return "\n".join(lines)


def _baseline_lines(r: dict[str, Any]) -> list[str]:
    b = r.get("baseline")
    if not b or "wall_seconds" not in b:
        return [] if not b else [f"- plain-pandas baseline: failed ({b.get('error')})"]
    same = "same counts" if b["counts"] == b["kongchuo_counts"] else f"kongchuo's counts {b['kongchuo_counts']}"
    return [f"- plain-pandas baseline (`kongchuo/baseline.py`: SD1/SD5/失学 only, vectorised pandas, calamine XLSX): "
            f"{b['wall_seconds']:.1f} s wall, {b['cpu_seconds']:.1f} s CPU; counts {b['counts']} ({same}); "
            f"**kongchuo speed-up over it: {b['wall_seconds'] / r['wall_seconds']:.2f}× wall, "
            f"{b['cpu_seconds'] / max(r.get('cpu_seconds') or 0, 0.01):.2f}× CPU** (above 1: kongchuo is faster)"]


def record_markdown(r: dict[str, Any], path: Path = BENCHMARKS_MD) -> None:
    """Replace the scale's section between its markers in BENCHMARKS.md (appended if absent)."""
    begin, end = f"<!-- bench:{r['scale']}:begin -->", f"<!-- bench:{r['scale']}:end -->"
    block = f"{begin}\n{markdown(r)}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_child"]:
        p = argparse.ArgumentParser()
        p.add_argument("_child")
        p.add_argument("--period", required=True)
        p.add_argument("--steps", type=Path, required=True)
        p.add_argument("--profile", type=Path)
        a = p.parse_args(argv)
        return child_main(a.period, a.steps, a.profile)
    p = argparse.ArgumentParser(prog="python -m pipelines.bench", description=__doc__.splitlines()[0])
    p.add_argument("--scale", choices=sorted(SCALES), default="district")
    p.add_argument("--cache", type=Path, default=CACHE)
    p.add_argument("--record", action="store_true", help="write the result into BENCHMARKS.md")
    p.add_argument("--profile", action="store_true", help="pyinstrument profile of the run (profile.html/.txt)")
    p.add_argument("--generate-only", action="store_true", help="prepare the scale's data and stop")
    p.add_argument("--workers", type=int, default=2,
                   help="generator processes for a county-chunked scale (memory ≈ workers × one county)")
    a = p.parse_args(argv)
    if a.generate_only:
        data, took = ensure_data(SCALES[a.scale], a.cache, workers=a.workers)
        files = input_files(data)
        print(f"bench {a.scale}: data in {data} ({len(files)} files, "
              f"{sum(f.stat().st_size for f in files) / (1 << 20):,.0f} MiB; "
              + ("already generated)" if took is None else f"generated in {took:.1f} s)"))
        return 0
    r = bench(SCALES[a.scale], a.cache, profile=a.profile, workers=a.workers)
    print(markdown(r))
    if a.record:
        record_markdown(r)
    return 0 if r["success"] else 1


if __name__ == "__main__":
    sys.exit(main())
