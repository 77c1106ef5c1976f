"""The portal serves exactly what the pipeline wrote, to exactly the people it is for (issue 20).

A real Dagster run (ephemeral instance, real DuckDB warehouse) materializes an R1 and an R5 report asset and
the project's own manifest asset (assets/manifest.py) for 2026-06. The R5 workbook is written the way
assets/fix_list.py writes it (its sheet-naming and school-code functions, kongchuo.excel.write_workbook) and
holds two schools whose names are the same in their first 31 characters (…（东校区） / …（西校区）). A workbook
saved by hand into the folder before the run is not listed by the manifest. The portal then runs under uvicorn
(``python -m portal``) and every check is a real HTTP request; served workbooks are read back with calamine.
Synthetic pupils only; assertion messages carry counts and masked values, never an ID number.
"""

import hashlib
import io
import json
import re
from pathlib import Path

import dagster as dg
import pytest
import requests
from portal_server import PASSWORD, SECRET, csrf_of, login, portal_server, write_users
from python_calamine import CalamineWorkbook

from assets.fix_list import R5, school_code_label, school_sheet_names
from assets.manifest import build_manifest_asset
from assets.report_files import report_metadata
from assets.report_r1 import R1
from kongchuo.excel import Sheet, write_workbook
from warehouse.home import KongchuoHome
from warehouse.partitions import monthly_partitions, period_of

DISTRICT, DISTRICT_CODE, PERIOD = "建安区", "411003", "2026-06"
TOWN_A, TOWN_B = ("411003901", "将官池镇"), ("411003902", "五女店镇")
PREFIX = "许昌市建安区将官池镇第一实验学校附属初级中学教育集团实验学校"     # 30 characters
EAST, WEST = PREFIX + "（东校区）", PREFIX + "（西校区）"                   # the same first 31 characters
SCHOOLS = {  # code → (name, township)
    "4110039001": (EAST, TOWN_A), "4110039002": (WEST, TOWN_A), "4110039003": ("将官池镇中心小学", TOWN_A),
    "4110039004": ("五女店镇第一初级中学", TOWN_B),
}
EAST_CODE, WEST_CODE = "4110039001", "4110039002"
# user → (role, configuration); the names are resolved through the reference data, never matched to sheets
USERS = {
    "qu": ("district", {"district": DISTRICT}),
    "jgc": ("township", {"township": TOWN_A[1]}),
    "wnd": ("township", {"township_code": TOWN_B[0]}),
    "east": ("school", {"township": TOWN_A[1], "school": EAST}),           # by name only: resolved to its code
    "west": ("school", {"school_code": WEST_CODE}),
    "xiaoxue": ("school", {"school_code": "4110039003"}),
    "twin": ("school", {"township": TOWN_A[1], "school": EAST[:31]}),     # the sheet-name cut: no such school
}
STRAY = f"{DISTRICT}_2026年06月_人籍不一致整改清单_{TOWN_A[1]}（修订）.xlsx"


def pupils(code: str) -> list[tuple[str, str]]:
    """Synthetic (ID number, name) pairs of a school: 3 pupils each, different for every school."""
    return [(f"41100320150{code[-3:]}{i:03d}"[:17] + "X", f"学生{code[-1]}{i}") for i in range(1, 4)]


# ---------------------------------------------------------------------------------------------- the run

def write_reference(home: Path) -> None:
    ref = home / "reference"
    ref.mkdir(parents=True, exist_ok=True)
    (ref / "townships.csv").write_text("township_code,township_name,district_code\n" + "".join(
        f"{c},{n},{DISTRICT_CODE}\n" for c, n in (TOWN_A, TOWN_B)), encoding="utf-8")
    (ref / "schools.csv").write_text("school_code,school_name,township_code,stage,is_rural\n" + "".join(
        f"{c},{n},{t[0]},初中,true\n" for c, (n, t) in SCHOOLS.items()), encoding="utf-8")


def report_assets() -> list[dg.AssetsDefinition]:
    """Stand-ins for R1 and R5 under their real keys, writing through the pipeline's writer and functions."""

    @dg.asset(key=R1, partitions_def=monthly_partitions)
    def r1(context: dg.AssetExecutionContext, home: KongchuoHome) -> dg.MaterializeResult:
        path = home.reports(period_of(context)) / f"{DISTRICT}_2026年06月_控辍保学月报.xlsx"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [[t[1], n, c, 3] for c, (n, t) in SCHOOLS.items()]
        sha = write_workbook(path, [Sheet(name="月报", title="月报", headers=["乡镇", "学校", "学校标识码", "在籍"],
                                          rows=rows)])
        return dg.MaterializeResult(metadata=report_metadata(path, sha, len(rows)))

    @dg.asset(key=R5, partitions_def=monthly_partitions)
    def r5(context: dg.AssetExecutionContext, home: KongchuoHome) -> dg.MaterializeResult:
        files = []
        for town in (TOWN_A, TOWN_B):
            codes = [c for c, (_, t) in SCHOOLS.items() if t == town]
            names = school_sheet_names([(c, SCHOOLS[c][0]) for c in codes])
            path = home.reports(period_of(context)) / f"{DISTRICT}_2026年06月_人籍不一致整改清单_{town[1]}.xlsx"
            sha = write_workbook(path, [Sheet(
                name=names[c], title=f"人籍不一致整改清单（{SCHOOLS[c][0]}）", headers=["序号", "身份证件号", "姓名"],
                rows=[[i, pid, name] for i, (pid, name) in enumerate(pupils(c), start=1)],
                defined_names=school_code_label(c)) for c in codes])
            files.append({"path": str(path), "sha256": sha, "township_code": town[0]})
        return dg.MaterializeResult(metadata={"files": dg.MetadataValue.json(files)})

    return [r1, r5, build_manifest_asset("monthly_manifest", [R1, R5], monthly_partitions)]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    from openpyxl import Workbook

    from kongchuo.settings import default_warehouse_url
    from warehouse.resource import WarehouseResource

    home = tmp_path_factory.mktemp("scope_home")
    write_reference(home)
    warehouse = WarehouseResource(url=default_warehouse_url(home))
    warehouse.ensure_layout()
    from warehouse.views import refresh_current

    refresh_current(warehouse)    # the (empty) current views the manifest reads its source files from
    _insert_townships(warehouse)  # the manifest names the district the warehouse's townships belong to
    folder = home / "reports" / PERIOD
    folder.mkdir(parents=True)
    stray = Workbook()  # saved by hand: an R5-looking workbook holding another school's pupils
    stray.active.title = EAST[:31]
    for pid, name in pupils(WEST_CODE):
        stray.active.append([pid, name])
    stray.save(folder / STRAY)
    result = dg.materialize(report_assets(), partition_key=PERIOD, instance=dg.DagsterInstance.ephemeral(),
                            resources={"home": KongchuoHome(path=str(home)), "warehouse": warehouse})
    assert result.success
    warehouse.dispose()
    write_users(home / "portal" / "users.toml", USERS)
    return home


def _insert_townships(warehouse) -> None:
    import sqlalchemy as sa

    with warehouse.begin() as conn:
        for code, name in (TOWN_A, TOWN_B):
            conn.execute(sa.text("INSERT INTO staged.townships VALUES (:c, :n, :d)"),
                         {"c": code, "n": name, "d": DISTRICT_CODE})


@pytest.fixture(scope="module")
def portal(home, tmp_path_factory):
    with portal_server(home, tmp_path_factory.mktemp("scope_portal")) as base:
        yield base


# ---------------------------------------------------------------------------------------------- helpers

def catalogue(session: requests.Session, base: str, **params) -> tuple[str, list[dict]]:
    """The catalogue page and its rows: download href, kind, size shown (bytes)."""
    page = session.get(base + "/reports", params=params)
    assert page.status_code == 200
    rows = [{"href": m.group(3), "kind": m.group(1), "bytes": int(m.group(2)) if m.group(2) else None}
            for m in re.finditer(r'<tr data-kind="(\w+)".*?data-bytes="(\d*)".*?href="(/download/[0-9a-f]{32})"',
                                 page.text, re.S)]
    return page.text, rows


def served_ids(content: bytes) -> dict[str, set[str]]:
    """Sheet → ID numbers in the served workbook, read with calamine (not the writer's library)."""
    book = CalamineWorkbook.from_filelike(io.BytesIO(content))
    out = {}
    for name in book.sheet_names:
        cells = [str(v) for row in book.get_sheet_by_name(name).to_python() for v in row]
        out[name] = {v for v in cells if re.fullmatch(r"\d{17}[\dX]", v)}
    return out


def count_msg(got: set, want: set) -> str:
    return f"{len(got - want)} unexpected, {len(want - got)} missing pupils"


# ---------------------------------------------------------------------------------------------- tests

def test_manifest_lists_only_what_the_run_wrote(home):
    manifest = json.loads((home / "reports" / PERIOD / "manifest.json").read_text(encoding="utf-8"))
    listed = {e["file"]: e for e in manifest["reports"]}
    assert STRAY not in listed and (home / "reports" / PERIOD / STRAY).exists()
    assert {e["report"] for e in listed.values()} == {"R1", "R5"}
    r5 = {e["township_code"] for e in listed.values() if e["report"] == "R5"}
    assert r5 == {TOWN_A[0], TOWN_B[0]}
    for name, entry in listed.items():
        data = (home / "reports" / PERIOD / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    assert manifest["district_code"] == DISTRICT_CODE


def test_colliding_sheet_names_are_unique_and_carry_codes(home):
    from portal.catalog import sheet_school_codes

    path = home / "reports" / PERIOD / f"{DISTRICT}_2026年06月_人籍不一致整改清单_{TOWN_A[1]}.xlsx"
    sheets = dict(sheet_school_codes(path))
    assert len(sheets) == 3 and sorted(sheets.values()) == ["4110039001", "4110039002", "4110039003"]
    by_code = {c: s for s, c in sheets.items()}
    assert by_code[EAST_CODE] != by_code[WEST_CODE]
    assert all(len(s) <= 31 for s in sheets)
    assert by_code[EAST_CODE].endswith(EAST_CODE) and by_code[WEST_CODE].endswith(WEST_CODE)


def test_each_school_gets_only_its_own_pupils(portal):
    for user, code in (("east", EAST_CODE), ("west", WEST_CODE), ("xiaoxue", "4110039003")):
        session = login(portal, user, PASSWORD["school"])
        _, rows = catalogue(session, portal)
        assert [r["kind"] for r in rows] == ["R5S"], user
        got = session.get(portal + rows[0]["href"])
        assert got.status_code == 200 and got.content.startswith(b"PK")
        sheets = served_ids(got.content)
        assert len(sheets) == 1, user
        want = {pid for pid, _ in pupils(code)}
        ids = next(iter(sheets.values()))
        assert len(ids ^ want) == 0, f"{user}: {count_msg(ids, want)}"  # counts only, never an ID number
        # The listed size is the size of what is served (the extract, not the township workbook).
        assert rows[0]["bytes"] == len(got.content) == int(got.headers["content-length"])
        assert hashlib.sha256(got.content).hexdigest() == got.headers["x-report-sha256"]


def test_school_configured_by_sheet_name_is_refused(portal):
    session = requests.Session()
    token = csrf_of(session.get(portal + "/login").text)
    r = session.post(portal + "/login", data={"username": "twin", "password": PASSWORD["school"],
                                              "csrf_token": token}, allow_redirects=False)
    assert r.status_code == 403 and "无法确定" in r.text
    assert session.get(portal + "/reports", allow_redirects=False).status_code == 303


def expected(user: str, entry: dict) -> int:
    """The access rules written out independently of portal.catalog."""
    role, conf = USERS[user]
    if entry["stray"]:
        return 404
    if role == "district":
        return 200
    if role == "township":
        town = conf.get("township_code") or next(c for c, n in (TOWN_A, TOWN_B) if n == conf.get("township"))
        return 200 if entry["kind"] == "R1" or (entry["kind"] in ("R5", "R5S") and entry["town"] == town) else 403
    code = conf.get("school_code") or next(c for c, (n, _) in SCHOOLS.items() if n == conf.get("school"))
    return 200 if entry["kind"] == "R5S" and entry["school"] == code else 403


def test_access_matrix_over_colliding_schools_and_stray(portal, home):
    from portal.catalog import Catalogue

    catalogue_ = Catalogue(home / "reports", SECRET.encode())  # the secret the server runs with
    reports, strays = catalogue_.scan_all()
    assert [s.file for s in strays] == [STRAY]
    entries = [{"id": r.id, "kind": r.kind, "town": r.township_code, "school": r.school_code, "stray": False}
               for r in reports]
    entries += [{"id": catalogue_.report_id(PERIOD, STRAY, sheet), "kind": "R5", "town": TOWN_A[0], "school": None,
                 "stray": True} for sheet in (None, EAST[:31])]
    assert {e["kind"] for e in entries} == {"R1", "R5", "R5S"}
    outcomes = {200: 0, 403: 0, 404: 0}
    for user in (u for u in USERS if u != "twin"):
        session = login(portal, user, PASSWORD[USERS[user][0]])
        page, _ = catalogue(session, portal)
        assert (STRAY in page) == (user == "qu") and ("未登记文件" in page) == (user == "qu")
        for entry in entries:
            want = expected(user, entry)
            got = session.get(f"{portal}/download/{entry['id']}")
            assert got.status_code == want, (user, entry["kind"], entry["school"], got.status_code)
            assert got.content.startswith(b"PK") == (want == 200)
            outcomes[want] += 1
    assert all(outcomes.values()), outcomes


def test_error_pages_and_search(portal):
    session = login(portal, "jgc", PASSWORD["township"])
    _, rows = catalogue(session, portal)
    own_r5 = [r for r in rows if r["kind"] == "R5"]
    assert len(own_r5) == 1
    for path, status, words in (("/download/" + "0" * 32, 404, "报表不存在"), ("/no-such-page", 404, "页面不存在")):
        r = session.get(portal + path)
        assert r.status_code == status and words in r.text and 'href="/reports"' in r.text and "控辍保学报表门户" in r.text
    wnd = login(portal, "wnd", PASSWORD["township"])
    r = wnd.get(portal + own_r5[0]["href"])
    assert r.status_code == 403 and "无权访问" in r.text and 'href="/reports"' in r.text
    # Search by school name finds the township workbook holding that school; by township name, the workbook.
    _, found = catalogue(session, portal, q="西校区")
    assert [r["kind"] for r in found] == ["R5"]
    _, found = catalogue(session, portal, q="五女店镇")
    assert found == []          # jgc's catalogue has no 五女店镇 entry
    district = login(portal, "qu", PASSWORD["district"])
    _, found = catalogue(district, portal, q="五女店镇")
    assert [r["kind"] for r in found] == ["R5"]
    _, everything = catalogue(district, portal)
    sizes = {r["href"]: r["bytes"] for r in everything}
    for href, size in sizes.items():
        assert len(district.get(portal + href).content) == size
