"""End to end in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright): uvicorn serves
the portal on a free loopback port; a township user logs in, downloads R1 and the totals row is checked with
pandas + calamine; another township's user cannot fetch the first township's R5 by its id; portal.audit has a
row for each of those actions. Skipped only when /usr/bin/chromium is absent (apt-get install -y chromium)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from test_portal import DISTRICT, PASSWORD, R1_TOTAL_ENROLLED, SCHOOL_A2, TOWN_A, TOWN_B, build_reports, write_users

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    home = tmp_path / "home"
    build_reports(home)
    write_users(home / "portal" / "users.toml")
    port = free_port()
    env = {**os.environ, "KONGCHUO_HOME": str(home), "KONGCHUO_WAREHOUSE_URL": f"duckdb:///{home / 'warehouse.duckdb'}",
           "KONGCHUO_PORTAL_SECRET": "browser-test-secret", "PYTHONPATH": str(REPO)}
    env.pop("KONGCHUO_PORTAL_USERS", None)
    log = open(tmp_path / "uvicorn.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "portal", "--host", "127.0.0.1",
                             "--port", str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError((tmp_path / "uvicorn.log").read_text())
                time.sleep(0.1)
        else:
            raise RuntimeError("uvicorn did not start")
        yield base, home, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)
        log.close()


def log_in(page, base: str, username: str, password: str) -> None:
    page.goto(base + "/login")
    assert page.locator("h2").inner_text() == "登录"
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_url(base + "/reports")
    assert "报表目录" in page.content()


def test_browser_township_download_and_refusal(server, tmp_path):
    from playwright.sync_api import sync_playwright

    base, home, proc = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            # Township A: downloads the district's R1 and sees its own R5 only.
            ctx = browser.new_context(accept_downloads=True)
            page = ctx.new_page()
            log_in(page, base, "jgc", PASSWORD["township"])
            assert page.locator(f'tr[data-kind="R5"][data-township="{TOWN_B}"]').count() == 0
            own_r5 = page.locator(f'tr[data-kind="R5"][data-period="2026-06"][data-township="{TOWN_A}"] a.download')
            r5_href = own_r5.get_attribute("href")
            with page.expect_download() as info:
                page.click('tr[data-kind="R1"][data-period="2026-06"] a.download')
            download = info.value
            assert download.suggested_filename == f"{DISTRICT}_2026年06月_控辍保学月报.xlsx"
            saved = tmp_path / "r1.xlsx"
            download.save_as(saved)
            sheet = pd.read_excel(saved, engine="calamine", header=None)
            header = sheet.index[sheet[0] == "乡镇（街道）"][0]
            total = sheet.index[sheet[0] == "合计"][0]
            col = list(sheet.iloc[header]).index("在籍学生数")
            body = pd.to_numeric(sheet.iloc[header + 1:total, col])
            assert int(sheet.iloc[total, col]) == int(body.sum()) == R1_TOTAL_ENROLLED
            page.click("#logout")
            page.wait_for_url(base + "/login")
            ctx.close()

            # Township B: the same R5 id is refused, by link and by direct request.
            ctx = browser.new_context(accept_downloads=True)
            page = ctx.new_page()
            log_in(page, base, "wnd", PASSWORD["township"])
            assert r5_href not in page.content()
            response = page.goto(base + r5_href)
            assert response.status == 403 and "无权访问" in page.content()
            page.click("#back")  # the 403 page is in the portal's layout, with a way back
            page.wait_for_url(base + "/reports")
            assert ctx.request.get(base + r5_href).status == 403
            ctx.close()
        finally:
            browser.close()

    proc.terminate()
    proc.wait(timeout=20)  # DuckDB: read the audit table once the portal has let go of the file
    from portal.audit import AuditLog

    rows = AuditLog(f"duckdb:///{home / 'warehouse.duckdb'}", home / "portal" / "audit-spool.jsonl").rows()
    r5_id = r5_href.rsplit("/", 1)[1]
    events = list(zip(rows.username, rows.action, rows.result, rows.file.fillna("")))
    assert events[:3] == [("jgc", "login", "success", ""),
                          ("jgc", "download", "allowed", f"{DISTRICT}_2026年06月_控辍保学月报.xlsx"),
                          ("jgc", "logout", "success", "")]
    assert events[3] == ("wnd", "login", "success", "")
    refused = rows[(rows.username == "wnd") & (rows.action == "download")]
    assert list(refused.result) == ["refused", "refused"] and set(refused.report_id) == {r5_id}
    assert set(refused.reason) == {"forbidden"}
    assert set(refused.file) == {f"{DISTRICT}_2026年06月_人籍不一致整改清单_{TOWN_A}.xlsx"}
    assert (rows.client == "127.0.0.1").all()
    assert not (home / "portal" / "audit-spool.jsonl").exists()


def test_browser_school_sheet_size_and_search(server, tmp_path):
    """A school user finds its sheet by searching its name; the size the catalogue shows is the size of the
    file the browser saves, which holds only that school's sheet (read with calamine)."""
    from playwright.sync_api import sync_playwright
    from python_calamine import CalamineWorkbook

    base, home, proc = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(accept_downloads=True)
            page = ctx.new_page()
            log_in(page, base, "jgc-zhongxin", PASSWORD["school"])
            page.fill('input[name="q"]', SCHOOL_A2)
            page.click('button[type="submit"]:has-text("筛选")')
            rows = page.locator('tr[data-kind="R5S"]')
            assert rows.count() == 1
            shown = int(rows.locator("td.size").get_attribute("data-bytes"))
            with page.expect_download() as info:
                rows.locator("a.download").click()
            saved = tmp_path / "own.xlsx"
            info.value.save_as(saved)
            assert saved.stat().st_size == shown
            book = CalamineWorkbook.from_path(str(saved))
            assert len(book.sheet_names) == 1
            cells = [str(v) for row in book.get_sheet_by_name(book.sheet_names[0]).to_python() for v in row]
            assert any(v.startswith(SCHOOL_A2) for v in cells)
            page.fill('input[name="q"]', "没有这所学校")
            page.click('button[type="submit"]:has-text("筛选")')
            assert page.locator("#empty").count() == 1
            ctx.close()
        finally:
            browser.close()


def test_browser_auditor_follows_an_r1_number_to_its_source_rows(tmp_path):
    """追溯 in Chromium on a real run's warehouse: the auditor picks R1 of June, clicks the largest 疑似辍学
    number, and sees as many masked cases as the number, each with its rules and evidence rows, the source files
    and the column's lineage graph; no full ID number on the page."""
    import re
    import shutil

    from district_run import district_run
    from playwright.sync_api import sync_playwright
    from portal_server import portal_server
    from portal_server import write_users as write_scoped_users

    run = district_run()
    home = tmp_path / "home"
    home.mkdir()
    for suffix in ("", ".wal"):
        src = Path(str(run.home / "warehouse.duckdb") + suffix)
        if src.exists():
            shutil.copy(src, str(home / "warehouse.duckdb") + suffix)
    write_scoped_users(home / "portal" / "users.toml", {"shenji": ("auditor", {})})
    with portal_server(home, tmp_path / "logs") as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        log_in(page, base, "shenji", "auditor-pass-2026")
        page.goto(f"{base}/trace?report=R1&period=2026-06")
        links = page.locator('a.cell[href*="column=suspected"]')
        numbers = [int(links.nth(i).inner_text()) for i in range(links.count())]
        assert numbers
        biggest = max(range(len(numbers)), key=lambda i: numbers[i])
        links.nth(biggest).click()
        page.wait_for_selector("#cases")
        assert int(page.locator("#total").get_attribute("data-total")) == numbers[biggest]
        assert page.locator("tr.case").count() == numbers[biggest]
        assert page.locator("span.evidence").count() >= numbers[biggest]
        assert page.locator("#files td.sha").count() >= 1
        assert page.locator("#lineage g.node").count() >= 3
        assert not re.search(r"\d{17}[\dXx]", page.content())
        browser.close()
