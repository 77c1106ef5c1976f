"""Smoke of ``make bench``: the benchmark of a tiny generated district produces its record with every stage.

No timing assertions: the numbers depend on the machine and its load; BENCHMARKS.md records them.
"""

from __future__ import annotations

import json

from pipelines import bench


def test_bench_smoke_produces_the_record(tmp_path):
    scale = bench.SCALES["smoke"]
    record = bench.bench(scale, root=tmp_path, log=lambda *_: None)

    assert record["success"], record["error"]
    assert set(record["stages"]) >= {"ingest", "derived", "ledger", "reports"}
    steps = {s["step"] for s in record["steps"]}
    assert {"staged__attendance", "derived__roster", "ledger__case_events", "reports__r1_monthly"} <= steps
    assert all(s["seconds"] >= 0 and s["status"] == "STEP_SUCCESS" for s in record["steps"])
    assert record["wall_seconds"] > 0 and record["peak_rss_mib"] > 0 and record["rss_samples"] > 0
    assert record["floor"]["seconds"] > 0 and record["floor"]["rows"] > 0 and record["floor_ratio"] > 0
    assert record["inputs"]["rows"]["attendance"] > 0
    assert record["machine"]["nproc"] >= 1 and record["commit"]
    assert {t["target"] for t in record["targets"]} == {"whole run / floor ≤ 3"}
    # the plain-pandas baseline ran on the same files; its counts are the generator's planted cases, as kongchuo's
    base = record["baseline"]
    assert base["wall_seconds"] > 0 and base["cpu_seconds"] > 0
    truth = json.loads((tmp_path / "smoke" / "data" / "meta.json").read_text(encoding="utf-8"))["case_counts"]
    planted = {"SD1": truth.get("SD1", 0), "SD5": truth.get("SD5", 0),
               "out_of_school": truth.get("OOS", 0) + truth.get("OOS_AWAY", 0)}
    assert base["counts"] == planted == base["kongchuo_counts"]
    assert planted["SD1"] > 0 and planted["SD5"] > 0 and planted["out_of_school"] > 0
    assert "kongchuo speed-up over it" in bench.markdown(record)
    # the record on disk, and its markdown, as BENCHMARKS.md shows it
    assert json.loads((tmp_path / "smoke" / "result.json").read_text(encoding="utf-8"))["scale"] == "smoke"
    md = tmp_path / "BENCHMARKS.md"
    bench.record_markdown(record, md)
    bench.record_markdown(record, md)  # replaced in place, not appended twice
    text = md.read_text(encoding="utf-8")
    assert text.count("<!-- bench:smoke:begin -->") == 1 and "whole run / floor" in text

    # the second run reuses the cached data
    again = bench.ensure_data(scale, root=tmp_path, log=lambda *_: None)
    assert again[1] is None
