"""Report portal (portal/): access matrix for every role × every report, path traversal, forged ids, CSRF,
expired sessions, login rate limiting, catalogue status, and the audit trail in portal.audit (real DuckDB).

The report folders are built here (small real workbooks: R5 with the pipeline's writer and its per-sheet school
codes, the others with openpyxl, plus manifest.json in the pipeline's format) so the tests do not depend on the
pipeline; one test also runs over the output of a real pipeline run (tests/district_run.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from openpyxl import Workbook, load_workbook

from portal.auth import COOKIE
from portal.config import PortalConfig

REPO = Path(__file__).resolve().parent.parent
DISTRICT = "建安区"
TOWN_A, TOWN_B = "将官池镇", "五女店镇"
SCHOOL_A1, SCHOOL_A2, SCHOOL_B1 = "将官池镇第一初级中学", "将官池镇中心小学", "五女店镇第一初级中学"
CODES = {SCHOOL_A1: "4110030001", SCHOOL_A2: "4110030002", SCHOOL_B1: "4110030003"}
TOWN_CODES = {TOWN_A: "411003901", TOWN_B: "411003902"}
DISTRICT_CODE = "411003"
R1_HEADERS = ["乡镇（街道）", "学校名称", "学校标识码", "在籍学生数", "疑似辍学人数", "失学儿童人数"]
R1_ROWS = [
    [TOWN_A, SCHOOL_A1, "4110030001", 120, 2, 0],
    [TOWN_A, SCHOOL_A2, "4110030002", 95, 1, 0],
    [TOWN_A, "（户籍比对：未入学适龄儿童）", "", 0, 0, 1],
    [TOWN_B, SCHOOL_B1, "4110030003", 80, 3, 0],
    [TOWN_B, "（户籍比对：未入学适龄儿童）", "", 0, 0, 2],
]
R1_TOTAL_ENROLLED = 295
PASSWORD = {"district": "district-pass-2026", "township": "township-pass-2026", "school": "school-pass-2026"}
# user name -> (role, township, school name, school code)
USERS = {
    "qu": ("district", None, None, None),
    "jgc": ("township", TOWN_A, None, None),
    "wnd": ("township", TOWN_B, None, None),
    "jgc-yizhong": ("school", TOWN_A, SCHOOL_A1, None),                  # name resolved to its code (reference)
    "jgc-zhongxin": ("school", TOWN_A, None, CODES[SCHOOL_A2]),          # configured by code
    "wnd-yizhong": ("school", TOWN_B, SCHOOL_B1, CODES[SCHOOL_B1]),
}


# ---------------------------------------------------------------------------------------------- fixtures

def write_report(path: Path, sheets: dict[str, tuple[str, list, list]], totals: bool = False,
                 subtitles: dict[str, str] | None = None) -> None:
    """A print-style report workbook: title row, (sub-title row,) header row, data rows (and a 合计 row)."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, (title, headers, rows) in sheets.items():
        ws = wb.create_sheet(name)
        ws.append([title])
        if subtitles and name in subtitles:
            ws.append([subtitles[name]])
        ws.append(headers)
        for row in rows:
            ws.append(row)
        if totals:
            ws.append(["合计", "", "", *[sum(r[i] for r in rows) for i in range(3, len(headers))]])
    wb.save(path)


def write_r5(path: Path, schools: list[str], township: str) -> None:
    """An R5 workbook as the pipeline writes it: one sheet per school, named and code-labelled by
    assets/fix_list.py, written by kongchuo.excel.write_workbook."""
    from assets.fix_list import school_code_label, school_sheet_names
    from kongchuo.excel import Sheet, write_workbook

    names = school_sheet_names([(CODES[s], s) for s in schools])
    write_workbook(path, [Sheet(name=names[CODES[s]], title=f"{s}人籍不一致整改清单",
                                subtitle_lines=[f"乡镇：{township}"], headers=["检查项", "身份证件号", "姓名", "问题"],
                                rows=fix_list_rows(s), defined_names=school_code_label(CODES[s])) for s in schools])


def report_of(path: Path) -> str:
    title = path.stem.split("_")[2]
    return next(k for k, word in (("R5", "人籍不一致"), ("R3", "一生一表"), ("R4", "劝返"), ("R6", "送教上门"),
                                  ("R2", "统计表"), ("R1", "月报")) if word in title)


def write_manifest(folder: Path, files: list[Path], sha_override: dict[str, str] | None = None) -> None:
    """manifest.json as assets/manifest.py writes it: report id, SHA-256, size, R5's township code."""
    reports = []
    for p in files:
        entry = {"file": p.name, "report": report_of(p),
                 "sha256": (sha_override or {}).get(p.name) or hashlib.sha256(p.read_bytes()).hexdigest(),
                 "bytes": p.stat().st_size}
        if entry["report"] == "R5":
            entry["township_code"] = next(c for t, c in TOWN_CODES.items() if p.stem.endswith(t))
        reports.append(entry)
    manifest = {"period": folder.name, "district_code": DISTRICT_CODE, "reports": reports, "sources": [
        {"source": "registry", "file": "学籍_2026春.csv", "sha256": "a" * 64},
        {"source": "attendance", "file": "考勤_2026-06.xlsx", "sha256": "b" * 64}]}
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def fix_list_rows(school: str) -> list[list]:
    return [["DQ05", "411003********1234", "张*明", f"{school}：人在籍不在校"]]


def build_reports(home: Path) -> dict[str, Path]:
    """reports/2026-06 (R1, R3, R4, R6, R5 for two townships), 2026-Q2 (R2), 2026-05 (stale and leftover files)."""
    out: dict[str, Path] = {}
    june = home / "reports" / "2026-06"
    june.mkdir(parents=True)
    out["R1"] = june / f"{DISTRICT}_2026年06月_控辍保学月报.xlsx"
    write_report(out["R1"], {"月报": (f"{DISTRICT}2026年06月控辍保学月报", R1_HEADERS, R1_ROWS)}, totals=True)
    for kind, title in (("R3", "一生一表"), ("R4", "劝返无效上报名单"), ("R6", "送教上门情况表")):
        out[kind] = june / f"{DISTRICT}_2026年06月_{title}.xlsx"
        write_report(out[kind], {title: (title, ["身份证件号", "姓名"], [["411003********1234", "张*明"]])})
    out["R5_A"] = june / f"{DISTRICT}_2026年06月_人籍不一致整改清单_{TOWN_A}.xlsx"
    write_r5(out["R5_A"], [SCHOOL_A1, SCHOOL_A2], TOWN_A)
    out["R5_B"] = june / f"{DISTRICT}_2026年06月_人籍不一致整改清单_{TOWN_B}.xlsx"
    write_r5(out["R5_B"], [SCHOOL_B1], TOWN_B)
    (june / ".partial-abc.xlsx").write_bytes(b"half written")  # never listed
    write_manifest(june, [out[k] for k in ("R1", "R3", "R4", "R6", "R5_A", "R5_B")])

    q2 = home / "reports" / "2026-Q2"
    q2.mkdir()
    out["R2"] = q2 / f"{DISTRICT}_2026年第二季度_控辍保学排查整改工作情况统计表.xlsx"
    write_report(out["R2"], {"统计表": ("统计表", R1_HEADERS, R1_ROWS)}, totals=True)
    write_manifest(q2, [out["R2"]])

    may = home / "reports" / "2026-05"
    may.mkdir()
    out["R1_may"] = may / f"{DISTRICT}_2026年05月_控辍保学月报.xlsx"
    write_report(out["R1_may"], {"月报": ("五月", R1_HEADERS, R1_ROWS[:2])}, totals=True)
    out["R5_may_old"] = may / f"{DISTRICT}_2026年05月_人籍不一致整改清单_{TOWN_A}.xlsx"
    write_r5(out["R5_may_old"], [SCHOOL_A1], TOWN_A)  # left over: the manifest does not list it
    write_manifest(may, [out["R1_may"]], sha_override={out["R1_may"].name: "0" * 64})
    # Times: May's files and manifest before June's; the leftover R5 older than May's manifest.
    base = time.time() - 3600
    os.utime(out["R5_may_old"], (base - 600, base - 600))
    os.utime(out["R1_may"], (base, base))
    os.utime(may / "manifest.json", (base + 10, base + 10))
    # A symlink to a file outside the reports folder is never catalogued.
    (home / "secret.xlsx").write_bytes(b"not a report")
    (june / f"{DISTRICT}_2026年06月_控辍保学月报_链接.xlsx").symlink_to(home / "secret.xlsx")
    write_reference(home)
    return out


def write_reference(home: Path) -> None:
    """The bureau's own reference files: the portal resolves users' township and school names through them."""
    ref = home / "reference"
    ref.mkdir(exist_ok=True)
    (ref / "townships.csv").write_text("township_code,township_name,district_code\n" + "".join(
        f"{c},{t},{DISTRICT_CODE}\n" for t, c in TOWN_CODES.items()), encoding="utf-8")
    (ref / "schools.csv").write_text("school_code,school_name,township_code,stage,is_rural\n" + "".join(
        f"{c},{s},{TOWN_CODES[TOWN_B if s == SCHOOL_B1 else TOWN_A]},初中,true\n" for s, c in CODES.items()),
        encoding="utf-8")


def write_users(path: Path, district: str | None = DISTRICT) -> None:
    # Cheap argon2id parameters keep the suite fast; the portal verifies with the parameters in each hash.
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    hashes = {role: cheap.hash(pw) for role, pw in PASSWORD.items()}
    lines = []
    for name, (role, township, school, code) in USERS.items():
        lines += [f"[users.{name}]", f'role = "{role}"', f'display_name = "{name}"']
        if district:
            lines.append(f'district = "{district}"')
        if township:
            lines.append(f'township = "{township}"')
        if school:
            lines.append(f'school = "{school}"')
        if code:
            lines.append(f'school_code = "{code}"')
        lines += [f'password_hash = "{hashes[role]}"', ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("kongchuo_home")
    build_reports(home)
    write_users(home / "portal" / "users.toml")
    return home


def make_config(home: Path, **kw) -> PortalConfig:
    return PortalConfig(home=home, users_path=home / "portal" / "users.toml",
                        warehouse_url=f"duckdb:///{home / 'warehouse.duckdb'}", secret=b"test-secret-0123456789", **kw)


@pytest.fixture(scope="module")
def app_clock(home):
    from portal.app import create_app

    clock = Clock()
    return create_app(make_config(home), clock=clock), clock


def client_for(app):
    from starlette.testclient import TestClient

    return TestClient(app, follow_redirects=False)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(app, username: str, password: str | None = None):
    client = client_for(app)
    token = csrf_of(client.get("/login").text)
    role = USERS.get(username, ("district",))[0]
    r = client.post("/login", data={"username": username, "password": password or PASSWORD[role], "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/reports", r.text
    return client


def audit_rows(app):
    return app.state.audit.rows()


# ---------------------------------------------------------------------------------------------- access

def expected_status(username: str, report) -> int:
    """The access rules written out independently of portal.catalog.may_access."""
    role, township, school, code = USERS[username]
    if role == "district":
        return 200
    if role == "township":
        if report.kind in ("R1", "R2"):
            return 200
        return 200 if report.kind in ("R5", "R5S") and report.township == township else 403
    # A school user: only the R5 sheet labelled with its school code (configured, or its name's code).
    return 200 if report.kind == "R5S" and report.school_code == (code or CODES[school]) else 403


def test_catalogue_entries_and_status(app_clock, home):
    app, _ = app_clock
    reports, strays = app.state.catalogue.scan_all()
    files = {(r.kind, r.period, r.township_code, r.school_code): r for r in reports}
    assert ("R5S", "2026-06", TOWN_CODES[TOWN_A], CODES[SCHOOL_A1]) in files
    assert ("R5S", "2026-06", TOWN_CODES[TOWN_B], CODES[SCHOOL_B1]) in files
    assert {r.kind for r in reports} == {"R1", "R2", "R3", "R4", "R5", "R5S", "R6"}
    assert not any("链接" in r.file or r.file.startswith(".") for r in reports)  # symlink and partial skipped
    # Newest period first; quarter right after its last month. May has nothing the manifest vouches for.
    assert [r.period for r in reports][0] == "2026-Q2"
    assert [p for p in dict.fromkeys(r.period for r in reports)] == ["2026-Q2", "2026-06"]
    assert all(r.status == "current" for r in reports)
    # Kinds come from the manifest's report ids; R5 sheets are known by their school codes.
    assert {r.file: r.kind for r in reports if r.sheet is None} == listed_kinds(app)
    assert {s.file: s.reason for s in strays} == {
        f"{DISTRICT}_2026年05月_控辍保学月报.xlsx": "changed",                   # sha differs from manifest
        f"{DISTRICT}_2026年05月_人籍不一致整改清单_{TOWN_A}.xlsx": "unlisted"}  # leftover, not listed
    assert not any(r.rebuilt for r in reports)
    # Ids: 32 hex digits, unique, stable across scans.
    ids = [r.id for r in reports]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert ids == [r.id for r in app.state.catalogue.scan()]
    assert reports[0].sources[0]["label"] == "学籍"


def listed_kinds(app) -> dict[str, str]:
    """file → report id, as the test manifests of June and Q2 list them."""
    out = {}
    for period in ("2026-06", "2026-Q2"):
        manifest = app.state.config.reports_root / period / "manifest.json"
        out.update({e["file"]: e["report"] for e in json.loads(manifest.read_text(encoding="utf-8"))["reports"]})
    return out


def test_access_matrix(app_clock):
    app, _ = app_clock
    reports, strays = app.state.catalogue.scan_all()
    stray_ids = [app.state.catalogue.report_id(s.period, s.file, sheet) for s in strays for sheet in (None, SCHOOL_A1)]
    seen = {200: 0, 403: 0}
    for username in USERS:
        client = login(app, username)
        listing = client.get("/reports")
        assert listing.status_code == 200 and "报表目录" in listing.text
        for report in reports:
            want = expected_status(username, report)
            r = client.get(f"/download/{report.id}")
            assert r.status_code == want, (username, report.kind, report.file, report.sheet, r.status_code)
            seen[want] += 1
            listed = f"/download/{report.id}" in listing.text
            assert listed == (want == 200 and (report.kind != "R5S" or USERS[username][0] == "school"))
            if want != 200:
                assert not r.content.startswith(b"PK")
                continue
            assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
            assert "attachment" in r.headers["content-disposition"]
            wb = load_workbook(io.BytesIO(r.content))
            assert hashlib.sha256(r.content).hexdigest() == r.headers["x-report-sha256"]
            if report.kind == "R5S":
                assert wb.sheetnames == [report.sheet]  # the school's own sheet, nothing else
                cells = [c.value for c in wb[report.sheet]["D"] if c.value]
                assert any(str(v).startswith(report.school_name) for v in cells)
            else:
                assert hashlib.sha256(r.content).hexdigest() == report.sha256
        for stray in stray_ids:  # files the manifest does not vouch for: nobody downloads them
            r = client.get(f"/download/{stray}")
            assert r.status_code == 404 and not r.content.startswith(b"PK")
    assert seen[200] > 0 and seen[403] > 0
    rows = audit_rows(app)
    downloads = rows[rows.action == "download"]
    assert len(downloads[downloads.result == "allowed"]) == seen[200]
    refused = downloads[(downloads.result == "refused") & (downloads.reason == "forbidden")]
    assert len(refused) == seen[403]
    assert set(refused.username) == {"jgc", "wnd", "jgc-yizhong", "jgc-zhongxin", "wnd-yizhong"}
    # Each school user got exactly its own June sheet.
    june_sheets = {u: set(downloads[(downloads.username == u) & (downloads.result == "allowed")
                                    & downloads.file.str.contains("2026年06月")].file) for u in USERS}
    assert june_sheets["jgc-zhongxin"] == {f"{DISTRICT}_2026年06月_人籍不一致整改清单_{TOWN_A}.xlsx#{SCHOOL_A2}"}
    assert june_sheets["jgc-yizhong"] == {f"{DISTRICT}_2026年06月_人籍不一致整改清单_{TOWN_A}.xlsx#{SCHOOL_A1}"}
    assert june_sheets["wnd-yizhong"] == {f"{DISTRICT}_2026年06月_人籍不一致整改清单_{TOWN_B}.xlsx#{SCHOOL_B1}"}
    one = downloads[downloads.result == "allowed"].iloc[0]
    assert one.client == "testclient" and ".xlsx" in one.file
    assert re.fullmatch(r"[0-9a-f]{64}", one.sha256)


TRAVERSALS = [
    "../../../etc/passwd",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "..%5c..%5cwindows%5cwin.ini",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "2026-06/manifest.json",
    "2026-06%2Fmanifest.json",
    "..%2F2026-06%2F" + "%E5%BB%BA%E5%AE%89%E5%8C%BA_2026%E5%B9%B406%E6%9C%88_%E6%8E%A7%E8%BE%8D%E4%BF%9D%E5%AD%A6%E6%9C%88%E6%8A%A5.xlsx",
    "%00",
    "....//....//etc/passwd",
]


def test_path_traversal_and_forged_ids(app_clock, home):
    app, _ = app_clock
    client = login(app, "qu")  # the most privileged role: refusals here are not about roles
    reports = app.state.catalogue.scan()
    r1 = next(r for r in reports if r.kind == "R1" and r.period == "2026-06")
    forged = [
        r1.id[:-1] + ("0" if r1.id[-1] != "0" else "1"),      # one digit changed
        r1.id.upper(),                                         # not the canonical form
        r1.id + "00",                                          # too long
        r1.sha256,                                             # the file's SHA-256 is not its id
        hashlib.sha256(f"2026-06/{r1.file}#".encode()).hexdigest()[:32],  # id without the secret
        r1.file,                                               # a file name
        "0" * 32,
    ]
    for attempt in TRAVERSALS + forged:
        r = client.get(f"/download/{attempt}")
        assert r.status_code in (400, 403, 404), (attempt, r.status_code)
        assert not r.content.startswith(b"PK") and b"root:" not in r.content
    # The catalogue itself never resolves a path.
    for attempt in ["../../etc/passwd", "/etc/passwd", r1.file, str(r1.path)]:
        assert app.state.catalogue.get(attempt) is None
    rows = audit_rows(app)
    refused = rows[(rows.action == "download") & (rows.username == "qu") & (rows.result == "refused")]
    assert len(refused) >= len(forged) + len(TRAVERSALS) - 3  # the router may 404 a few before the handler
    assert set(refused.reason) == {"unknown_id"}
    # Symlinked file outside the catalogue: not listed, not downloadable by any name.
    assert "链接" not in client.get("/reports").text


def test_csrf_required(app_clock):
    app, _ = app_clock
    client = client_for(app)
    token = csrf_of(client.get("/login").text)
    good = {"username": "qu", "password": PASSWORD["district"]}
    assert client.post("/login", data=good).status_code == 403                                   # no token
    assert client.post("/login", data={**good, "csrf_token": "x" * 43}).status_code == 403       # wrong token
    other = client_for(app)
    other_token = csrf_of(other.get("/login").text)
    assert other_token != token
    assert client.post("/login", data={**good, "csrf_token": other_token}).status_code == 403    # another session's
    fresh = client_for(app)                                                                       # token, no cookie
    assert fresh.post("/login", data={**good, "csrf_token": token}).status_code == 403
    client = login(app, "qu")
    assert client.post("/logout", data={}).status_code == 403
    assert client.post("/logout", data={"csrf_token": token}).status_code == 403
    assert client.get("/reports").status_code == 200  # still logged in
    page_token = csrf_of(client.get("/reports").text)
    assert client.post("/logout", data={"csrf_token": page_token}).status_code == 303
    rows = audit_rows(app)
    assert len(rows[(rows.action == "login") & (rows.reason == "csrf")]) >= 4


def test_expired_and_forged_sessions(app_clock):
    app, clock = app_clock
    r1 = next(r for r in app.state.catalogue.scan() if r.kind == "R1" and r.period == "2026-06")
    client = login(app, "jgc")
    assert client.get(f"/download/{r1.id}").status_code == 200
    cookie = client.cookies.get(COOKIE)
    clock.now += 31 * 60  # idle longer than the 30-minute default
    try:
        r = client.get(f"/download/{r1.id}")
        assert r.status_code == 401 and not r.content.startswith(b"PK")
        page = client.get("/reports")
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert "登录已过期" in client.get("/login").text
    finally:
        clock.now -= 31 * 60
    # Activity slides the idle timeout; the absolute lifetime does not slide.
    client = login(app, "jgc")
    for _ in range(3):
        clock.now += 20 * 60
        assert client.get("/reports").status_code == 200
    clock.now -= 60 * 60
    # Tampered cookie, cookie signed with another secret, and a cookie after logout.
    from portal.auth import Sessions

    tampered = client_for(app)
    tampered.cookies.set(COOKIE, cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1])
    assert tampered.get(f"/download/{r1.id}").status_code == 401
    evil = Sessions(b"guessed-secret", 1800, 43200)
    forged = client_for(app)
    forged.cookies.set(COOKIE, evil.dumps(evil.new_login("qu", "0" * 16)))
    assert forged.get(f"/download/{r1.id}").status_code == 401
    real = app.state.sessions
    wrong_fp = client_for(app)
    wrong_fp.cookies.set(COOKIE, real.dumps(real.new_login("qu", "0" * 16)))  # valid signature, stale password
    assert wrong_fp.get(f"/download/{r1.id}").status_code == 401
    stale = client_for(app)
    data = real.new_login("qu", "x")
    data["seen"] = data["iat"] = int(clock.now) - 3600
    stale.cookies.set(COOKIE, real.dumps(data))
    assert stale.get(f"/download/{r1.id}").status_code == 401
    client = login(app, "jgc")
    old = client.cookies.get(COOKIE)
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/reports").text)})
    replay = client_for(app)
    replay.cookies.set(COOKIE, old)
    assert replay.get(f"/download/{r1.id}").status_code == 401
    rows = audit_rows(app)
    refused = rows[(rows.action == "download") & (rows.result == "refused")]
    assert {"session_expired", "bad_session"} <= set(refused.reason)
    assert len(refused[(refused.username == "jgc") & (refused.reason == "session_expired")]) >= 2


def test_login_rate_limit_and_failures_audited(home, tmp_path):
    import shutil

    from portal.app import create_app

    own = tmp_path / "home"  # its own failure counts (they live in the home's portal folder)
    shutil.copytree(home, own, ignore=shutil.ignore_patterns("*.duckdb*", "login-failures*"))
    app = create_app(make_config(own, login_max_failures=3, login_window_seconds=60), clock=Clock())
    client = client_for(app)
    for _ in range(3):
        token = csrf_of(client.get("/login").text)
        r = client.post("/login", data={"username": "wnd", "password": "wrong-password", "csrf_token": token})
        assert r.status_code == 401 and "用户名或密码错误" in r.text
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": "wnd", "password": PASSWORD["township"], "csrf_token": token})
    assert r.status_code == 429
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": "张小明411003201003051234", "password": "x", "csrf_token": token})
    assert r.status_code == 429  # same client address
    rows = audit_rows(app)
    wnd = rows[(rows.action == "login") & (rows.username == "wnd")]
    assert list(wnd.reason[-4:]) == ["bad_credentials"] * 3 + ["rate_limited"]
    assert not rows.username.str.contains("张小明").any() and not rows.username.str.contains("411003").any()
    assert rows.username.str.match(r"^\?[0-9a-f]{12}$").any()


def test_audit_records_logins_and_downloads(app_clock):
    app, _ = app_clock
    before = len(audit_rows(app))
    client = login(app, "wnd")
    reports = app.state.catalogue.scan()
    r1 = next(r for r in reports if r.kind == "R1" and r.period == "2026-06")
    r5_a = next(r for r in reports if r.kind == "R5" and r.township == TOWN_A)
    assert client.get(f"/download/{r1.id}").status_code == 200
    assert client.get(f"/download/{r5_a.id}").status_code == 403
    rows = audit_rows(app).iloc[before:]
    assert list(zip(rows.action, rows.result, rows.report_id.fillna(""))) == [
        ("login", "success", ""), ("download", "allowed", r1.id), ("download", "refused", r5_a.id)]
    assert list(rows.username) == ["wnd"] * 3 and list(rows.role) == ["township"] * 3
    assert rows.iloc[1].file == r1.file and rows.iloc[1].sha256 == r1.sha256
    assert rows.iloc[2].file == r5_a.file
    assert rows["occurred_at"].notna().all() and (rows.client == "testclient").all()


def test_rebuilt_flag_and_unlisted_files(tmp_path):
    from portal.catalog import Catalogue

    home = tmp_path
    paths = build_reports(home)
    cat = Catalogue(home / "reports", b"s")
    q2_manifest = (home / "reports" / "2026-Q2" / "manifest.json").stat().st_mtime
    os.utime(paths["R1"], (q2_manifest + 60, q2_manifest + 60))    # June re-run after the quarter's manifest
    new = home / "reports" / "2026-06" / f"{DISTRICT}_2026年06月_劝返无效上报名单_补充.xlsx"
    write_report(new, {"x": ("x", ["a"], [[1]])})                   # a run in progress, or saved by hand
    (home / "reports" / "2026-07").mkdir()
    write_report(home / "reports" / "2026-07" / f"{DISTRICT}_2026年07月_控辍保学月报.xlsx", {"x": ("x", ["a"], [[1]])})
    reports, strays = cat.scan_all()
    by_file = {r.file: r for r in reports if r.sheet is None}
    assert by_file[paths["R1"].name].rebuilt and not by_file[paths["R4"].name].rebuilt
    assert {s.file: s.reason for s in strays if s.period != "2026-05"} == {
        new.name: "unlisted", f"{DISTRICT}_2026年07月_控辍保学月报.xlsx": "unlisted"}   # 07: no manifest yet
    assert not any(r.period == "2026-07" or r.file == new.name for r in reports)


def test_audit_spools_while_duckdb_is_locked(tmp_path):
    from portal.audit import AuditLog

    db = tmp_path / "wh.duckdb"
    audit = AuditLog(f"duckdb:///{db}", tmp_path / "spool.jsonl", retries=3)
    audit.record(username="qu", action="login", result="success", client="127.0.0.1")
    # The portal lets go of the file after each row: another process (the pipeline) can open it.
    probe = subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()", str(db)],
                           capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "c.execute('CREATE TABLE IF NOT EXISTS busy (x INT)'); print('held', flush=True); time.sleep(4)", str(db)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        audit.record(username="qu", action="download", result="allowed", report_id="a" * 32, client="127.0.0.1")
        assert (tmp_path / "spool.jsonl").exists()
    finally:
        holder.wait(timeout=30)
    audit.record(username="qu", action="logout", result="success", client="127.0.0.1")
    assert not (tmp_path / "spool.jsonl").exists()
    assert list(audit.rows().action) == ["login", "download", "logout"]


def test_users_command_hashes_and_validates(tmp_path, monkeypatch):
    from portal.users import UserStore, main, verify_password

    write_reference(tmp_path)
    monkeypatch.setenv("KONGCHUO_HOME", str(tmp_path))
    path = tmp_path / "users.toml"
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password-1\n"))
    assert main(["--file", str(path), "add", "xz", "--role", "school", "--township", TOWN_A,
                 "--school", SCHOOL_A1, "--password-stdin"]) == 0
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert "a-long-password-1" not in path.read_text() and "$argon2id$" in path.read_text()
    user = UserStore(path).get("xz")
    # The school name was resolved to its code through the reference schools and written to the file.
    assert user.role == "school" and user.school == SCHOOL_A1 and user.school_code == CODES[SCHOOL_A1]
    assert user.township_code == TOWN_CODES[TOWN_A]
    assert verify_password(user, "a-long-password-1") and not verify_password(user, "a-long-password-2")
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    with pytest.raises(SystemExit):
        main(["--file", str(path), "passwd", "xz", "--password-stdin"])
    with pytest.raises(SystemExit):  # a school user must name its school
        monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password-1\n"))
        main(["--file", str(path), "add", "bad", "--role", "school", "--township", TOWN_A, "--password-stdin"])
    with pytest.raises(SystemExit, match="无法对应"):  # a name that is no school of the reference data
        monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password-1\n"))
        main(["--file", str(path), "add", "bad", "--role", "school", "--school", "将官池镇第一初级中学（分校）",
              "--password-stdin"])
    assert set(UserStore(path).users()) == {"xz"}
    # The shipped example parses and its demo passwords work.
    example = UserStore(REPO / "portal" / "users.example.toml").users()
    assert {u.role for u in example.values()} == {"district", "township", "school"}
    assert verify_password(example["jiangguanchi"], "demo-township-2026")
    assert verify_password(example["jianan-jyj"], "demo-district-2026")
    assert verify_password(example["jgc-lhw"], "demo-school-2026")


def test_real_pipeline_output(tmp_path):
    """On the reports of a real run of the graph (the session's generated district): every file the manifest
    lists is catalogued with the manifest's report id, a district user can download each, and a school user
    (by code) receives exactly the pupils of its own R5 sheet, read back with calamine."""
    from district_run import district_run
    from portal_server import write_users as write_scoped_users
    from python_calamine import CalamineWorkbook

    from portal.app import create_app

    home = district_run().home
    REAL = district_run().reports("2026-06")
    manifest = json.loads((REAL / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["district_code"] == "411003"
    assert {m["report"] for m in manifest["reports"]} == {"R1", "R3", "R4", "R5", "R6", "R8"}
    quarter = json.loads((home / "reports" / "2026-Q2" / "manifest.json").read_text(encoding="utf-8"))
    assert [m["report"] for m in quarter["reports"]] == ["R2"]   # found by the quarter's partition key
    towns = (home / "reference" / "townships.csv").read_text(encoding="utf-8")
    assert all(m["township_code"] and f"\n{m['township_code']}," in towns
               for m in manifest["reports"] if m["report"] == "R5")
    config = replace(make_config(home), users_path=tmp_path / "users.toml",
                     warehouse_url=f"duckdb:///{tmp_path / 'audit.duckdb'}")
    app = create_app(config)
    everything = [r for r in app.state.catalogue.scan() if r.period == "2026-06"]
    reports = [r for r in everything if r.sheet is None]
    sheets = [r for r in everything if r.kind == "R5S"]
    assert sheets and all(re.fullmatch(r"\d{10}", r.school_code or "") for r in sheets)  # codes from defined names
    assert {r.file: r.kind for r in reports} == {m["file"]: m["report"] for m in manifest["reports"]}
    assert all(r.status == "current" for r in reports)
    mine = max(sheets, key=lambda r: (r.file, r.sheet))
    write_scoped_users(config.users_path, {"qu": ("district", {}), "school": ("school", {"school_code": mine.school_code})})
    client = login(app, "qu")
    for r in reports:
        got = client.get(f"/download/{r.id}")
        assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == r.sha256

    def ids(book, sheet: str) -> set[str]:
        cells = book.get_sheet_by_name(sheet).to_python()
        return {str(v) for row in cells for v in row if re.fullmatch(r"\d{17}[\dXx]", str(v))}

    school = login(app, "school", PASSWORD["school"])
    listing = school.get("/reports").text
    own = [r for r in app.state.catalogue.scan() if r.kind == "R5S" and r.school_code == mine.school_code]
    assert listing.count("/download/") == len(own) and f"/download/{mine.id}" in listing  # its sheets, any month
    got = school.get(f"/download/{mine.id}")
    assert got.status_code == 200
    served = CalamineWorkbook.from_filelike(io.BytesIO(got.content))
    original = CalamineWorkbook.from_path(str(mine.path))
    assert served.sheet_names == [mine.sheet]
    want, got_ids = ids(original, mine.sheet), ids(served, mine.sheet)
    assert want and len(got_ids ^ want) == 0  # compared as a count: no ID number in the test output


def test_trace_pages_for_auditor(tmp_path):
    """追溯 on a real run's warehouse: from an R1 number to its masked cases, rules, evidence rows, source files
    (SHA-256, landing time) and the Dagster run that wrote R1; every page view audited; other roles refused."""
    import shutil

    import dagster as dg
    from district_run import district_run
    from portal_server import write_users as write_scoped_users

    from assets.report_r1 import R1
    from portal.app import create_app

    run = district_run()
    wh = tmp_path / "warehouse.duckdb"
    for suffix in ("", ".wal"):
        if Path(str(run.home / "warehouse.duckdb") + suffix).exists():
            shutil.copy(str(run.home / "warehouse.duckdb") + suffix, str(wh) + suffix)
    config = replace(make_config(run.home), users_path=tmp_path / "users.toml", warehouse_url=f"duckdb:///{wh}")
    write_scoped_users(config.users_path, {"shenji": ("auditor", {}), "qu": ("district", {}),
                                           "jgc": ("township", {"township": "将官池镇"})})
    app = create_app(config)
    auditor = login(app, "shenji", "auditor-pass-2026")
    r1_run = run.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=R1, asset_partitions=["2026-06"]), limit=1).records[0].run_id

    page = auditor.get("/trace", params={"report": "R1", "period": "2026-06"})
    assert page.status_code == 200 and r1_run in page.text
    links = re.findall(r'<a class="cell" href="(/trace/cell\?[^"]+column=suspected)">(\d+)</a>', page.text)
    assert links
    href, shown = max(links, key=lambda link: int(link[1]))
    cell = auditor.get(href.replace("&amp;", "&"))
    assert cell.status_code == 200
    total = int(re.search(r'data-total="(\d+)"', cell.text).group(1))
    masked = re.findall(r'<td class="masked">([^<]+)</td>', cell.text)
    assert total == int(shown) == len(masked) and all("*" in m for m in masked)
    assert not re.search(r"\d{17}[\dXx]", cell.text)  # no full ID number anywhere on the page
    assert "SD" in cell.text and "第 " in cell.text   # rules and evidence rows (file + row)
    assert re.search(r'<td class="sha">[0-9a-f]{64}</td>', cell.text) and r1_run in cell.text
    # The column's lineage, drawn from pipelines.lineage (the dagster/column_lineage metadata): R1.suspected is
    # counted from derived.suspected_dropouts, keyed through the roster to the staged registry.
    svg = re.search(r'<svg id="lineage".*?</svg>', cell.text, re.S).group(0)
    nodes = set(re.findall(r"<text[^>]*>([^<]+)</text>", svg))
    assert {"reports/r1_monthly.suspected", "derived/suspected_dropouts.person_key"} <= nodes
    assert any(n.startswith("derived/roster.") for n in nodes) and any(n.startswith("staged/registry.") for n in nodes)
    # Only auditors and district staff trace; every view is audited.
    township = login(app, "jgc", PASSWORD["township"])
    assert township.get("/trace").status_code == 403
    assert login(app, "shenji", "auditor-pass-2026").get("/reports").status_code == 200
    rows = app.state.audit.rows()
    traces = rows[rows.action == "trace"]
    assert list(zip(traces.username, traces.result)) == [("shenji", "allowed"), ("shenji", "allowed"),
                                                         ("jgc", "refused")]
    # With the Dagster UI's address configured, the run ids link to its run page.
    linked = create_app(replace(config, dagster_url="http://127.0.0.1:3001"))
    page = login(linked, "shenji", "auditor-pass-2026").get(href.replace("&amp;", "&"))
    assert f'<a href="http://127.0.0.1:3001/runs/{r1_run}">' in page.text
    assert traces.iloc[1].file.endswith("/suspected")
    # Every report with drill-down rows of the month opens, and its first number's cases show no full ID.
    for report in ("R1", "R3", "R4", "R6"):
        listing = auditor.get("/trace", params={"report": report, "period": "2026-06"})
        assert listing.status_code == 200
        first = re.search(r'<a class="cell" href="([^"]+)"', listing.text)
        if first:
            page = auditor.get(first.group(1).replace("&amp;", "&"))
            assert page.status_code == 200 and not re.search(r"\d{17}[\dXx]", page.text)
