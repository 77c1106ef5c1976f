"""Two direct ``kongchuo run`` of different periods on one KONGCHUO_HOME never interleave (issue 13): each run
refreshes the current registry and census as of its own period, so the second waits for the first, saying which
period is running (``kongchuo/run_lock.py``).

Real processes: the unit test holds the lock in a child process; the end-to-end test starts ``kongchuo run
--period 2026-09`` and ``--period 2026-10`` at the same moment on a generated district and reads the Dagster
run records: both succeed, and the second run started after the first one ended."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
from district_run import install_district

from kongchuo.run_lock import LOCK_NAME, period_lock

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KONGCHUO_WAREHOUSE_URL"}
    env.update(KONGCHUO_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), PYTHONUNBUFFERED="1")
    return env


@pytest.mark.fast
def test_a_second_holder_waits_naming_the_running_period(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from kongchuo.run_lock import period_lock
        with period_lock(Path({str(tmp_path)!r}), "2026-09"):
            print("held", flush=True)
            time.sleep(2.0)
            print(f"releasing {{time.time()}}", flush=True)
        """)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    said: list[str] = []
    with period_lock(tmp_path, "2026-10", say=said.append):
        got = time.time()
        assert "2026-10" in (tmp_path / LOCK_NAME).read_text(encoding="utf-8")
    releasing = float(holder.communicate(timeout=30)[0].split()[-1])
    assert got >= releasing  # waited for the holder to let go
    assert len(said) == 1 and "2026-09" in said[0] and "等待" in said[0] and "waiting" in said[0]
    assert holder.returncode == 0
    with period_lock(tmp_path, "2026-11", say=said.append):  # free again: no message
        pass
    assert len(said) == 1


def test_two_cli_runs_of_different_periods_run_one_after_the_other(tmp_path: Path) -> None:
    from kongchuo.generate import generate

    generate("411003", 150, 31, dt.date(2026, 9, 1), dt.date(2026, 10, 31), tmp_path / "generated")
    home = tmp_path / "home"
    install_district(tmp_path / "generated", home)
    procs = {period: subprocess.Popen([str(BIN / "kongchuo"), "run", "--period", period], cwd=REPO, env=_env(home),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for period in ("2026-09", "2026-10")}
    outputs = {period: proc.communicate(timeout=600)[0] for period, proc in procs.items()}
    for period, proc in procs.items():
        assert proc.returncode == 0, (period, outputs[period][-1500:])
    waited = {p for p, out in outputs.items() if "another kongchuo run is in progress" in out}
    assert len(waited) == 1, outputs  # exactly one of them found the other running
    [second] = waited
    [first] = set(procs) - waited
    assert f"period {first}" in outputs[second]
    os.environ["DAGSTER_HOME"], saved = str(home / "dagster"), os.environ.get("DAGSTER_HOME")
    try:
        with dg.DagsterInstance.get() as instance:
            runs = {r.tags.get("dagster/partition"): instance.get_run_record_by_id(r.run_id)
                    for r in instance.get_runs()}
    finally:
        os.environ.pop("DAGSTER_HOME") if saved is None else os.environ.__setitem__("DAGSTER_HOME", saved)
    assert set(runs) == {"2026-09", "2026-10"}
    assert runs[second].start_time >= runs[first].end_time  # never interleaved
