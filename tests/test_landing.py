"""Landing that cannot be abused (issue 13): links are refused, sub-folders read, hidden files listed, files still
being written wait, archive bombs are stopped before they inflate, any file name is handled and masked, raw/
and quarantine/ are private, and leftovers of killed runs are removed by the next run.

Each test lands real files in a real KONGCHUO_HOME and runs the real ingest (``ingest_source``) or the real
monthly job (``run_period``)."""

from __future__ import annotations

import io
import os
import stat
import threading
import time
import zipfile
from pathlib import Path

import pytest

from assets.ingest import ingest_source
from kongchuo import landing
from kongchuo.masking import mask_id
from tests.bad_inputs import IDS, csv_bytes, registry_rows
from warehouse.home import KongchuoHome

ID = IDS[0]
REFUSED_LINK = "符号链接，拒绝读取 (symbolic link refused, not followed)"


def _home(root: Path) -> KongchuoHome:
    return KongchuoHome(path=str(root))


def _files_rows(warehouse) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in warehouse.query_df(
        "SELECT original_name, status, coalesce(error, '') FROM raw.files ORDER BY original_name").itertuples(index=False)]


def _private(root: Path) -> None:
    for p in root.rglob("*"):
        assert not p.stat().st_mode & stat.S_IROTH, f"world-readable: {p.relative_to(root.parent)}"


def test_symlinks_are_refused_and_never_followed(kongchuo_home: Path, warehouse, drop) -> None:
    folder = kongchuo_home / "landing" / "registry"
    drop("registry", "good.csv", data=csv_bytes(registry_rows(2, 0)))
    (folder / "passwd.csv").symlink_to("/etc/passwd")
    (folder / "environ.csv").symlink_to("/proc/self/environ")
    (folder / "etc").symlink_to("/etc", target_is_directory=True)
    outcomes = ingest_source(_home(kongchuo_home), warehouse, "registry", workers=1)
    assert [o.status for o in outcomes] == ["ingested"]
    assert sorted(name for name, _ in outcomes.scan.refused) == ["environ.csv", "etc", "passwd.csv"]
    passwd = Path("/etc/passwd").read_bytes()
    copied = [p for p in kongchuo_home.rglob("*") if p.is_file() and "landing" not in p.parts]
    assert not any(p.read_bytes() == passwd for p in copied if p.suffix != ".duckdb")
    assert not (kongchuo_home / "quarantine").exists()  # nothing of theirs reached quarantine either
    assert all(p.is_symlink() for p in (folder / "passwd.csv", folder / "etc"))  # left alone, not removed
    _private(kongchuo_home / "raw")


def test_a_file_swapped_for_a_link_after_listing_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "a.csv"
    real.write_bytes(b"x")
    link = tmp_path / "b.csv"
    link.symlink_to("/etc/passwd")
    assert landing.sha256_regular(real)
    with pytest.raises(landing.NotRegularFile):
        landing.sha256_regular(link)
    with pytest.raises(landing.NotRegularFile):
        landing.copy_private(link, tmp_path / "out" / "c.csv")
    assert not any((tmp_path / "out").iterdir())


def test_subfolders_are_read_and_hidden_files_listed(kongchuo_home: Path, warehouse, drop) -> None:
    drop("registry", "第一批/一中.csv", data=csv_bytes(registry_rows(2, 0)))
    drop("registry", "第一批/二中/二中.csv", data=csv_bytes(registry_rows(2, 2)))
    drop("registry", ".hidden.csv", data=csv_bytes(registry_rows(2, 4)))
    drop("registry", "~$lock.xlsx", data=b"lock")
    drop("registry", ".svn/entries.csv", data=csv_bytes(registry_rows(2, 6)))
    outcomes = ingest_source(_home(kongchuo_home), warehouse, "registry", workers=1)
    assert sorted((o.name, o.status) for o in outcomes) == [("第一批/一中.csv", "ingested"),
                                                             ("第一批/二中/二中.csv", "ingested")]
    ignored = dict(outcomes.scan.ignored)
    assert set(ignored) == {".hidden.csv", "~$lock.xlsx", ".svn"}
    assert "隐藏" in ignored[".hidden.csv"] and "hidden" in ignored[".hidden.csv"]
    assert warehouse.scalar("SELECT count(*) FROM staged.registry") == 4


def test_a_file_still_being_written_waits_for_the_next_run(kongchuo_home: Path, warehouse, drop,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONGCHUO_LANDING_SETTLE_SECONDS", "0.6")
    data = csv_bytes(registry_rows(18, 0))
    target = kongchuo_home / "landing" / "registry" / "growing.csv"
    target.write_bytes(data[:100])
    stop = threading.Event()

    def writer() -> None:  # a slow copy: a few bytes every 50 ms until told to finish
        written = 100
        while not stop.is_set() and written < len(data) - 50:
            with open(target, "ab") as fh:
                fh.write(data[written:written + 20])
            written += 20
            time.sleep(0.05)
        with open(target, "ab") as fh:
            fh.write(data[written:])

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        outcomes = ingest_source(_home(kongchuo_home), warehouse, "registry", workers=1)
    finally:
        stop.set()
        thread.join()
    assert list(outcomes) == [] and [f.display for f in outcomes.scan.waiting] == ["growing.csv"]
    assert warehouse.scalar("SELECT count(*) FROM raw.files") == 0
    assert not (kongchuo_home / "quarantine").exists()
    os.utime(target, (time.time() - 60, time.time() - 60))  # finished a minute ago
    outcomes = ingest_source(_home(kongchuo_home), warehouse, "registry", workers=1)
    assert [o.status for o in outcomes] == ["ingested"] and outcomes[0].rows == 18


def test_old_files_are_read_without_waiting_and_young_ones_only_until_settled(tmp_path: Path) -> None:
    """The settle wait costs nothing for files older than the window (a monthly run over files delivered
    earlier), and a young file is looked at again once it is ``settle`` seconds old, not a window later."""
    folder = tmp_path / "landing"
    folder.mkdir()
    old = folder / "old.csv"
    old.write_bytes(b"a,b\n1,2\n")
    os.utime(old, (time.time() - 60, time.time() - 60))
    t0 = time.perf_counter()
    scan = landing.scan_landing(folder, settle=5.0)
    assert time.perf_counter() - t0 < 1.0  # no second look at all
    assert [f.display for f in scan.ready] == ["old.csv"] and not scan.waiting
    young = folder / "young.csv"
    young.write_bytes(b"a,b\n3,4\n")
    os.utime(young, (time.time() - 3.5, time.time() - 3.5))  # quiet for 3.5 of the 5 seconds
    t0 = time.perf_counter()
    scan = landing.scan_landing(folder, settle=5.0)
    took = time.perf_counter() - t0
    assert 1.3 <= took < 3.5, took  # the remaining ~1.5 s, not 5 s
    assert sorted(f.display for f in scan.ready) == ["old.csv", "young.csv"] and not scan.waiting


def _bomb_xlsx(inflated: int) -> bytes:
    """A valid-looking XLSX whose shared strings inflate to ``inflated`` bytes (one repeated character)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
            block = b"A" * (1 << 20)
            for _ in range(inflated >> 20):
                fh.write(block)
    return buf.getvalue()


def test_an_archive_bomb_is_refused_before_it_inflates(kongchuo_home: Path, warehouse, drop,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    drop("registry", "bomb.xlsx", data=_bomb_xlsx(64 << 20))  # 64 MiB of one letter: ~1000x
    drop("registry", "good.csv", data=csv_bytes(registry_rows(2, 0)))
    outcomes = {o.name: o for o in ingest_source(_home(kongchuo_home), warehouse, "registry", workers=1)}
    assert outcomes["good.csv"].status == "ingested"
    assert outcomes["bomb.xlsx"].status == "quarantined"
    assert outcomes["bomb.xlsx"].error.startswith("bomb.xlsx: row 1, column A:") and "bomb" in outcomes["bomb.xlsx"].error
    monkeypatch.setenv("KONGCHUO_MAX_INFLATED_BYTES", str(8 << 20))  # the total bound, at a lower limit
    drop("registry", "big.xlsx", data=_bomb_xlsx(9 << 20))
    (big,) = [o for o in ingest_source(_home(kongchuo_home), warehouse, "registry", workers=1) if o.name == "big.xlsx"]
    assert big.status == "quarantined" and "over the limit of 8,388,608" in big.error
    _private(kongchuo_home / "quarantine")


def test_any_file_name_is_handled_masked_and_never_forges_a_log_line(kongchuo_home: Path, warehouse) -> None:
    folder = os.fsencode(kongchuo_home / "landing" / "registry")
    gbk_name = "学籍_一中.csv".encode("gbk")  # not UTF-8: a Windows share mounted without iocharset
    names = {
        gbk_name: csv_bytes(registry_rows(2, 0)),
        "学籍\n2026-12-01 INFO forged line.csv".encode(): csv_bytes(registry_rows(2, 2)),
        f"张三_{ID}_学籍.csv".encode(): csv_bytes(registry_rows(2, 4)),
        ("坏" * 80 + ".csv").encode(): b"\xff\xfe\x00garbage",  # 243 bytes, and it goes to quarantine
        b"\xff\xfe\xfa.csv": csv_bytes(registry_rows(2, 6)),  # neither UTF-8 nor GBK
    }
    for name, data in names.items():
        with open(os.path.join(folder, name), "wb") as fh:
            fh.write(data)

    class Log:
        lines: list[str] = []

        def info(self, msg: str) -> None:
            self.lines.append(msg)

        warning = error = info

    log = Log()
    outcomes = ingest_source(_home(kongchuo_home), warehouse, "registry", workers=1, log=log)
    by_status = sorted(o.status for o in outcomes)
    assert by_status == ["ingested", "ingested", "ingested", "ingested", "quarantined"]
    stored = [r[0] for r in _files_rows(warehouse)]
    for text in stored + log.lines:
        assert "\n" not in text and "\r" not in text
        assert ID not in text, "a full ID number in a file name reached the warehouse or the log"
    assert f"张*_{mask_id(ID)}_学籍.csv" in stored
    assert "学籍?2026-12-01 INFO forged line.csv" in stored
    assert "学籍_一中.csv" in stored  # the GBK name, read as GBK
    assert "\ufffd\ufffd\ufffd.csv" in stored
    assert all(len(s) <= landing.DISPLAY_MAX_CHARS for s in stored)
    quarantined = [p for p in (kongchuo_home / "quarantine" / "registry").iterdir()]
    assert len(quarantined) == 2 and all(len(os.fsencode(p.name)) <= 140 for p in quarantined)
    assert not list((kongchuo_home / "landing" / "registry").glob("坏*"))  # it left landing
    _private(kongchuo_home / "quarantine")
    _private(kongchuo_home / "raw")


def test_leftovers_of_killed_runs_are_removed_by_the_next_run(kongchuo_home: Path, warehouse, drop) -> None:
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    assert not landing.pid_alive(dead)
    folder = kongchuo_home / "reports" / "2026-06"
    folder.mkdir(parents=True)
    (folder / f".partial-{dead}-abc.xlsx").write_bytes(b"")
    mine = folder / f".partial-{os.getpid()}-def.xlsx"  # a live writer's file (this process)
    mine.write_bytes(b"")
    scratch = kongchuo_home / ".ingest_scratch" / f"{dead}-0123456789ab" / "sha"
    scratch.mkdir(parents=True)
    (scratch / "part-00000.arrow").write_bytes(b"\0" * 4096)
    drop("census", "x.csv", data=b"")
    ingest_source(_home(kongchuo_home), warehouse, "census", workers=1)
    assert not (folder / f".partial-{dead}-abc.xlsx").exists()
    assert not scratch.parent.exists()
    assert mine.exists()


def test_cr_only_line_endings_are_read(kongchuo_home: Path, warehouse, drop) -> None:
    data = csv_bytes(registry_rows(3, 0)).replace(b"\r\n", b"\n").replace(b"\n", b"\r")  # classic Mac OS
    drop("registry", "cr.csv", data=data)
    (outcome,) = ingest_source(_home(kongchuo_home), warehouse, "registry", workers=1)
    assert (outcome.status, outcome.rows, outcome.error) == ("ingested", 3, None)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    import datetime as dt

    from kongchuo.generate import generate

    out = tmp_path_factory.mktemp("landing") / "generated"
    generate("411003", 150, 13, dt.date(2026, 3, 2), dt.date(2026, 4, 30), out)
    return out


def test_the_monthly_run_survives_hostile_landing_and_leaks_no_name(tmp_path: Path, generated: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    dagster_instance, capfd) -> None:
    """A symlink to /etc/passwd, a bad file whose name holds a child's name and ID plus a forged log line, a
    non-UTF-8 name and a file in a sub-folder: the real monthly job succeeds (the reports are drafts), and
    neither the ID nor the name reaches the console, the event log, the manifest or raw.files."""
    import json
    import shutil

    import dagster as dg
    from conftest import use_home
    from run_home import run_home

    from kongchuo.settings import default_warehouse_url
    from warehouse.resource import WarehouseResource

    home = use_home(tmp_path / "home", monkeypatch, copy_of=generated)
    reg = home / "landing" / "registry"
    (reg / "passwd.csv").symlink_to("/etc/passwd")
    (reg / f"链接_{ID}.csv").symlink_to("/proc/self/environ")  # an ID in a refused link's name: masked too
    hostile = f"王小虎_{ID}_学籍\n2026-12-01 - dagster - INFO - forged.csv"
    (reg / hostile).write_bytes("姓名,备注\n王小虎,坏表\n".encode())
    with open(os.path.join(os.fsencode(reg), "一中".encode("gbk") + b"\xff.csv"), "wb") as fh:
        fh.write(b"\xff\xfe\x00")
    (reg / "补报").mkdir()
    shutil.copy(sorted((home / "landing" / "casework").iterdir())[0], home / "landing" / "casework" / "a.xlsx")
    outcome = run_home(home, "2026-04", dagster_instance)
    assert outcome.success, outcome.summary()
    console = capfd.readouterr()
    events = " ".join(f"{e.user_message} {e.dagster_event!r}" for e in dagster_instance.all_logs(outcome.run_id))
    manifest = (home / "reports" / "2026-04" / "manifest.json").read_text(encoding="utf-8")
    warehouse = WarehouseResource(url=default_warehouse_url(home))
    names = " ".join(warehouse.query_df("SELECT original_name FROM raw.files")["original_name"])
    refused = warehouse.query_df("SELECT check_id, source, severity, detail FROM checks.findings "
                                 "WHERE run_id = :r AND source = 'registry:landing' ORDER BY detail",
                                 {"r": outcome.run_id})
    warehouse.dispose()
    # the refused links are findings the bureau sees (checks.findings and the run's metadata), names masked
    assert list(refused["detail"]) == sorted([f"文件 passwd.csv：{REFUSED_LINK}",
                                              f"文件 {landing.display_name(f'链接_{ID}.csv')}：{REFUSED_LINK}"])
    assert set(refused["check_id"]) == {"DQ03"} and set(refused["severity"]) == {"warn"}
    staged = dagster_instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["staged", "registry"])), limit=1).records[0]
    metadata = staged.asset_materialization.metadata
    assert metadata["landing_findings"].value == 2 and metadata["refused_count"].value == 2
    assert "passwd.csv" in metadata["refused_files"].value
    assert landing.display_name(f"链接_{ID}.csv") in metadata["refused_files"].value
    for where, text in (("console", console.out + console.err), ("event log", events), ("manifest", manifest),
                        ("raw.files", names), ("checks.findings", " ".join(refused["detail"])),
                        ("metadata", metadata["refused_files"].value)):
        assert ID not in text, f"the full ID reached the {where}"
        assert "王小虎" not in text, f"the child's name reached the {where}"
    assert not any(line.lstrip().startswith("2026-12-01 - dagster - INFO - forged") for line in
                   (console.out + console.err).splitlines()), "a file name forged a log line"
    assert json.loads(manifest)["reports"]  # the reports were written
    assert "passwd" in events and "symbolic link refused" in events
    passwd = Path("/etc/passwd").read_bytes()
    assert not any(p.read_bytes() == passwd for p in (home / "raw").rglob("*") if p.is_file())


def test_the_monthly_run_names_rows_of_cr_only_files_takes_long_names_and_removes_leftovers(
        tmp_path: Path, generated: Path, monkeypatch: pytest.MonkeyPatch, dagster_instance) -> None:
    """Through the real monthly job (issue 13): CR-only line endings (classic Mac) are read, and their problems
    name the row and column (never "row ?, column ?"); a 255-byte name, a name with a newline and a name that is
    neither UTF-8 nor GBK are ingested (or quarantined) under safe names; a killed run's half-written report
    (``.partial-<pid>-*.xlsx``) and parsed roll-call part (``.ingest_scratch/<pid>-*``) are removed by this run."""
    from conftest import use_home
    from run_home import run_home

    from kongchuo.settings import default_warehouse_url
    from tests.bad_inputs import REGISTRY_HEADER
    from warehouse.resource import WarehouseResource

    home = use_home(tmp_path / "home", monkeypatch, copy_of=generated)
    school = "2410039903"  # a school of its own: these snapshots replace nobody of the generated district
    with open(home / "reference" / "schools.csv", "a", encoding="utf-8") as fh:
        fh.write(f"{school},建安区文件名测试学校,411003001,初中,false\n")
    reg = home / "landing" / "registry"

    def rows(ids: list[str], born: str = "2013-02-03") -> list[list[str]]:
        return [[f"G{i}", i, "学生", "男", born, school, "初一", "在读"] for i in ids]

    def cr_only(table: list[list[str]]) -> bytes:
        return csv_bytes(table).replace(b"\n", b"\r")

    ids = [IDS[i] for i in range(12, 20)]
    # every snapshot of the school carries the same date in its name (undated ones would be dated by landing)
    (reg / "cr_good_20260415.csv").write_bytes(cr_only([REGISTRY_HEADER] + rows(ids[:2]) + rows(ids[2:3], "2013-02-30")))
    (reg / "cr_bad.csv").write_bytes(cr_only([REGISTRY_HEADER] + rows(ids[3:4]) + [rows(ids[4:5])[0] + ["多余"]]))
    long_name = "学" * 80 + "_20260415ab.csv"  # 255 bytes in UTF-8: the longest name a file system takes
    assert len(long_name.encode()) == 255
    (reg / long_name).write_bytes(csv_bytes([REGISTRY_HEADER] + rows(ids[5:6])))
    (reg / ("坏" * 83 + "ab.csv")).write_bytes(b"\xff\xfe\x00 not a table")  # 255 bytes, and quarantined
    (reg / "学籍_20260415\n2026-12-01 INFO forged.csv").write_bytes(csv_bytes([REGISTRY_HEADER] + rows(ids[6:7])))
    with open(os.path.join(os.fsencode(reg), b"\xff\xfe\xfa_20260415.csv"), "wb") as fh:  # neither UTF-8 nor GBK
        fh.write(csv_bytes([REGISTRY_HEADER] + rows(ids[7:8])))
    dead = 2 ** 22 + 4321  # above the default pid_max: no such process
    assert not landing.pid_alive(dead)
    partial = home / "reports" / "2026-04" / f".partial-{dead}-x1y2.xlsx"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"")  # what a kill during report writing leaves
    part = home / ".ingest_scratch" / f"{dead}-0123456789ab" / ("a" * 64) / "part-00000.arrow"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * (1 << 20))  # what a kill during the load of a roll call leaves

    outcome = run_home(home, "2026-04", dagster_instance)
    assert outcome.success, outcome.summary()
    assert not partial.exists() and not part.parent.parent.exists()
    assert not [p.name for p in partial.parent.iterdir() if p.name.startswith(".")]
    warehouse = WarehouseResource(url=default_warehouse_url(home))
    files = {r.original_name: (r.status, r.error or "") for r in warehouse.query_df(
        "SELECT original_name, status, error FROM raw.files WHERE source = 'registry'").itertuples(index=False)}
    assert files["cr_good_20260415.csv"][0] == "ingested"
    status, error = files["cr_bad.csv"]
    assert status == "quarantined" and error.startswith("cr_bad.csv: row 3, column I: the row has 9 fields"), error
    assert "?" not in error.split(":")[1]
    assert files[landing.display_name(long_name)][0] == "ingested"
    assert files["学籍_20260415?2026-12-01 INFO forged.csv"][0] == "ingested"
    assert files["\ufffd\ufffd\ufffd_20260415.csv"][0] == "ingested"
    bad_long = [v for k, v in files.items() if k.startswith("坏")]
    assert len(bad_long) == 1 and bad_long[0][0] == "quarantined"
    assert all(len(os.fsencode(p.name)) <= 140 for p in (home / "quarantine" / "registry").iterdir())
    found = warehouse.query_df("SELECT detail FROM checks.findings WHERE run_id = :r AND check_id = 'DQ03' "
                               "AND source = 'registry'", {"r": outcome.run_id})["detail"].tolist()
    assert "文件 cr_good_20260415.csv 第4行 列「出生日期」(birth_date): 无法识别的值 unparseable [2013-02-30]" in found
    current = set(warehouse.query_df("SELECT id_number FROM staged.registry_current WHERE school_code = :s",
                                     {"s": school})["id_number"])
    assert current == set(ids[:3]) | {ids[5], ids[6], ids[7]}  # the quarantined file's pupils are not there
    warehouse.dispose()


_MEASURED_RUN = """
import resource, runpy, sys
sys.argv = ["kongchuo", "run", "--period", sys.argv[1]]
code = 0
try:
    runpy.run_module("pipelines.cli", run_name="__main__")
except SystemExit as exc:
    code = exc.code or 0
print("MAXRSS_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True)
sys.exit(code)
"""


def _shared_strings_bomb(inflated: int) -> bytes:
    """An XLSX whose xl/sharedStrings.xml is one string of ``inflated`` bytes (deflates ~1000 times)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                                          'package/2006/content-types"/>')
        z.writestr("xl/workbook.xml", '<workbook><sheets><sheet name="学籍" sheetId="1" r:id="rId1"/></sheets>'
                                      '</workbook>')
        z.writestr("xl/worksheets/sheet1.xml", '<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>'
                                               '</row></sheetData></worksheet>')
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
            fh.write(b'<sst count="1" uniqueCount="1"><si><t>')
            block = "学".encode() * (1 << 20)  # 3 MiB a block
            for _ in range(inflated // len(block)):
                fh.write(block)
            fh.write(b"</t></si></sst>")
    return buf.getvalue()


def test_a_shared_strings_bomb_is_refused_in_bounded_memory(tmp_path: Path, generated: Path) -> None:
    """Issue 13: an XLSX whose shared strings inflate to 1.4 GB took 4.5 GB of memory before refusal. Through the
    real CLI (``kongchuo run``, a process of its own so its peak memory is its own): the bomb is quarantined
    by its declared sizes before any reader inflates it, the run succeeds (drafts), and the process's peak
    resident memory stays far below the bomb's inflated size."""
    import shutil
    import subprocess
    import sys

    inflated = 1400 << 20
    home = tmp_path / "home"
    shutil.copytree(generated, home)
    bomb = _shared_strings_bomb(inflated)
    assert len(bomb) < inflated // 200  # a few MiB on disk
    (home / "landing" / "registry" / "学籍_炸弹_2026-04.xlsx").write_bytes(bomb)
    env = {k: v for k, v in os.environ.items() if k not in ("KONGCHUO_WAREHOUSE_URL", "DAGSTER_HOME")}
    env.update(KONGCHUO_HOME=str(home), PYTHONUNBUFFERED="1")
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", _MEASURED_RUN, "2026-04"], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    own, children = (int(v) for v in done.stdout.rsplit("MAXRSS_KIB", 1)[1].split()[:2])
    peak = max(own, children) * 1024
    print(f"peak resident memory {peak >> 20} MiB")
    assert peak < 1 << 30, f"peak resident memory {peak >> 20} MiB for a bomb of {inflated >> 20} MiB"
    errors = list((home / "quarantine" / "registry").glob("*.error.txt"))
    assert len(errors) == 1 and "学籍_炸弹_2026-04.xlsx: row 1, column A:" in errors[0].read_text(encoding="utf-8")
    assert any(p.name.endswith("_草稿.xlsx") for p in (home / "reports" / "2026-04").iterdir())


def test_a_name_and_id_in_a_file_name_never_reach_the_running_portal(
        tmp_path: Path, generated: Path, monkeypatch: pytest.MonkeyPatch, dagster_instance) -> None:
    """Issue 13: "a file name holding a name and ID reaches the console, event log, asset index, manifest and
    portal". A persuasion record named with the child's name and ID (the way a teacher saves it) and a broken file
    named the same way go through the real monthly job; then the portal runs (``python -m portal``) and an auditor
    walks the catalogue, the R1 trace page and every cell page over real HTTP: the file shows up, masked, as
    the evidence's source, and neither the full ID nor the name appears on any page."""
    import re
    import shutil

    from conftest import use_home
    from portal_server import PASSWORD, login, portal_server, write_users
    from run_home import run_home

    from kongchuo.settings import default_warehouse_url
    from warehouse.resource import WarehouseResource

    home = use_home(tmp_path / "home", monkeypatch, copy_of=generated)
    first = run_home(home, "2026-04", dagster_instance)
    assert first.success, first.summary()
    warehouse = WarehouseResource(url=default_warehouse_url(home))
    child = warehouse.scalar("SELECT min(id_number) FROM derived.suspected_dropouts WHERE period = '2026-04' "
                             "AND id_number IS NOT NULL")
    name = warehouse.scalar("SELECT min(name) FROM staged.registry_current WHERE id_number = :i", {"i": child})
    warehouse.dispose()
    assert child and name and len(name) >= 2
    good = f"劝返记录_{name}_{child}_2026-04.csv"
    (home / "landing" / "casework" / good).write_bytes(csv_bytes([
        ["身份证件号", "劝返日期", "劝返方式", "劝返结果"], [child, "2026-04-20", "上门", "未返校"]]))
    (home / "landing" / "casework" / f"劝返_{name}_{child}_坏.csv").write_bytes(b"\xff\xfe\x00 broken")
    second = run_home(home, "2026-04", dagster_instance)
    assert second.success, second.summary()

    copy = tmp_path / "portal-warehouse.duckdb"  # the portal is another process: give it its own DuckDB file
    shutil.copy(home / "warehouse.duckdb", copy)
    write_users(home / "portal" / "users.toml", {"shenji": ("auditor", {}), "qu": ("district", {})})
    pages: list[str] = []
    with portal_server(home, tmp_path / "portal-logs", KONGCHUO_WAREHOUSE_URL=f"duckdb:///{copy}") as base:
        district = login(base, "qu", PASSWORD["district"])
        pages.append(district.get(base + "/reports").text)
        auditor = login(base, "shenji", PASSWORD["auditor"])
        trace = auditor.get(base + "/trace", params={"report": "R1", "period": "2026-04"})
        assert trace.status_code == 200
        pages.append(trace.text)
        links = re.findall(r'<a class="cell" href="(/trace/cell\?[^"]+)">', trace.text)
        assert links
        for href in links[:40]:
            page = auditor.get(base + href.replace("&amp;", "&"))
            assert page.status_code == 200
            pages.append(page.text)
    text = "\n".join(pages)
    assert child not in text and name not in text
    assert not re.search(r"\d{17}[\dXx]", text)  # no full ID number on any page
    assert "劝返记录_" in text  # the file is there, as the case's source file: masked
