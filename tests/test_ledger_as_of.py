"""The ledger's catch-up reads each month's own registry (DESIGN: "The registry of month M is each scope's newest
snapshot dated up to M's end"; "a first run of M on a backlog ... gives the same events ... as running every
month in order").

Hand-worked, real files through the real monthly job: a new school's snapshot of 1 September holds child B; its
snapshot of 1 October holds B and A (A arrived in October). Nobody of the school has roll call, so an active
child is SD5 in every month it is on the registry. Month by month: B suspected at the end of September (case
opened) and of October (two consecutive month ends: confirmed); A suspected at the end of October only (opened,
not confirmed). A first run of October on this backlog derives September itself; read with October's registry,
it would take A for suspected in September too and confirm A's case in October."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kongchuo import idnumber
from tests.bad_inputs import REGISTRY_HEADER, csv_bytes

BORN = dt.date(2012, 2, 3)


def _registry(ids: list[str], school: str) -> bytes:
    return csv_bytes([REGISTRY_HEADER] + [[f"G{i}", i, "学生", "男", BORN.isoformat(), school, "初二", "在读"]
                                          for i in ids])


def test_a_month_caught_up_reads_its_own_registry(tmp_path: Path, autumn: Path, monkeypatch: pytest.MonkeyPatch,
                                                  dagster_instance) -> None:
    from conftest import use_home
    from run_home import run_home

    from kongchuo.settings import default_warehouse_url
    from warehouse.resource import WarehouseResource

    home = use_home(tmp_path / "home", monkeypatch, copy_of=autumn)
    school = "2410039931"
    with open(home / "reference" / "schools.csv", "a", encoding="utf-8") as fh:
        fh.write(f"{school},建安区台账补算测试学校,411003001,初中,false\n")
    a, b = (idnumber.make_id("411003", BORN, 640 + i) for i in range(2))
    landing = home / "landing" / "registry"
    (landing / f"学籍_{school}_20260901.csv").write_bytes(_registry([b], school))
    (landing / f"学籍_{school}_20261001.csv").write_bytes(_registry([b, a], school))

    outcome = run_home(home, "2026-10", dagster_instance)  # the first run: September is caught up
    assert outcome.success, outcome.summary()
    warehouse = WarehouseResource(url=default_warehouse_url(home))
    assert list(warehouse.query_df("SELECT period, suspicion_from FROM ledger.periods ORDER BY period")
                .itertuples(index=False, name=None)) == [("2026-09", "evaluated"), ("2026-10", "derived")]
    events = warehouse.query_df("SELECT person_key, created_for_period, to_state FROM ledger.case_events "
                                "WHERE person_key IN (:a, :b) ORDER BY created_for_period, event_seq",
                                {"a": a, "b": b})
    mine = {k: list(g[["created_for_period", "to_state"]].itertuples(index=False, name=None))
            for k, g in events.groupby("person_key")}
    assert [p for p, _ in mine[b]] == ["2026-09", "2026-10"] and mine[b][-1][1] == "confirmed", mine[b]
    assert {p for p, _ in mine[a]} == {"2026-10"} and "confirmed" not in {s for _, s in mine[a]}, mine[a]
    # the run's own month reads its own registry again after the catch-up
    assert set(warehouse.query_df("SELECT id_number FROM staged.registry_current WHERE school_code = :s",
                                  {"s": school})["id_number"]) == {a, b}
    warehouse.dispose()
