"""Issue 13's portal findings, each against the running portal (``python -m portal`` under uvicorn) over real
HTTP: parallel logins and the lockout, logout across a restart, forged X-Forwarded-For, the audit spool with
two workers, and the audit row of a logout refused for its CSRF token."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from portal_server import PASSWORD, csrf_of, login, portal_server, write_users

USERS = {"qu": ("district", {}), "jgc": ("township", {"township_code": "411003901"})}


@pytest.fixture
def home(tmp_path) -> Path:
    home = tmp_path / "home"
    (home / "reports").mkdir(parents=True)
    write_users(home / "portal" / "users.toml", USERS)
    return home


def audit_rows(home: Path):
    """portal.audit, read once the portal has stopped (DuckDB: one process at a time)."""
    from portal.audit import AuditLog

    return AuditLog(f"duckdb:///{home / 'warehouse.duckdb'}", home / "portal" / "audit-spool.jsonl").rows()


def try_login(base: str, username: str, password: str, headers: dict | None = None) -> int:
    session = requests.Session()
    if headers:
        session.headers.update(headers)
    token = csrf_of(session.get(base + "/login").text)
    return session.post(base + "/login", data={"username": username, "password": password, "csrf_token": token},
                        allow_redirects=False).status_code


@pytest.mark.parametrize("workers", [1, 2])
def test_parallel_logins_cannot_pass_the_lockout(home, tmp_path, workers):
    attempts = 40
    with portal_server(home, tmp_path, workers=workers) as base:  # two workers share one limit
        start = threading.Barrier(attempts)

        def attempt(i: int) -> int:
            session = requests.Session()
            token = csrf_of(session.get(base + "/login").text)
            start.wait()  # all 40 posts at once
            return session.post(base + "/login", data={"username": "qu", "password": f"wrong-{i}",
                                                       "csrf_token": token}, allow_redirects=False).status_code

        with ThreadPoolExecutor(attempts) as pool:
            codes = list(pool.map(attempt, range(attempts)))
        assert codes.count(401) == 5 and codes.count(429) == attempts - 5, sorted(codes)
        assert try_login(base, "qu", PASSWORD["district"]) == 429  # locked out, right password or not
    rows = audit_rows(home)
    logins = rows[rows.action == "login"]
    assert list(logins.reason.value_counts().sort_index().items()) == [("bad_credentials", 5),
                                                                       ("rate_limited", attempts - 5 + 1)]


def test_logout_survives_a_restart(home, tmp_path):
    with portal_server(home, tmp_path) as base:
        gone = login(base, "qu", PASSWORD["district"])
        kept = login(base, "jgc", PASSWORD["township"])
        cookies_gone = gone.cookies.get_dict()
        token = csrf_of(gone.get(base + "/reports").text)
        assert gone.post(base + "/logout", data={"csrf_token": token}, allow_redirects=False).status_code == 303
        port = int(base.rsplit(":", 1)[1])
    with portal_server(home, tmp_path, port=port) as base:  # a new process: nothing in memory
        replay = requests.Session()
        replay.cookies.update(cookies_gone)
        r = replay.get(base + "/reports", allow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert replay.get(base + "/download/" + "0" * 32).status_code == 401
        assert kept.get(base + "/reports", allow_redirects=False).status_code == 200  # other sessions live on
    assert (home / "portal" / "revoked-sessions").stat().st_mode & 0o777 == 0o600


def test_forwarded_for_is_believed_only_from_configured_proxies(home, tmp_path):
    with portal_server(home, tmp_path) as base:  # no proxies configured: the header is ignored
        codes = [try_login(base, f"nobody{i}", "wrong-password", {"X-Forwarded-For": f"198.51.100.{i}"})
                 for i in range(7)]
        assert codes == [401] * 5 + [429] * 2   # rotating the header does not reset the per-address limit
    rows = audit_rows(home)
    assert set(rows.client) == {"127.0.0.1"}
    before = len(rows)
    (home / "portal" / "login-failures.json").unlink()  # the peer's failures above would lock it out below
    with portal_server(home, tmp_path, KONGCHUO_PORTAL_TRUSTED_PROXIES="127.0.0.1/32") as base:
        login(base, "qu", PASSWORD["district"], {"X-Forwarded-For": "203.0.113.7"})
        # A client-supplied hop to the left of the one the proxy appended is not believed.
        login(base, "qu", PASSWORD["district"], {"X-Forwarded-For": "192.0.2.66, 203.0.113.8"})
        login(base, "qu", PASSWORD["district"], {"X-Forwarded-For": "not-an-address"})
    clients = list(audit_rows(home).client[before:])
    assert clients == ["203.0.113.7", "203.0.113.8", "127.0.0.1"]


def test_two_workers_replay_the_spool_once(home, tmp_path):
    db = home / "warehouse.duckdb"
    with portal_server(home, tmp_path, workers=2) as base:
        assert try_login(base, "qu", PASSWORD["district"]) == 303   # creates the table
        holder = subprocess.Popen(  # the pipeline holding the DuckDB file: rows go to the spool
            [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
             "print('held', flush=True); time.sleep(12)", str(db)], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            # Each waits ~3 s for the file (under the spool lock, so one after the other), then spools.
            with ThreadPoolExecutor(2) as pool:
                spooled = list(pool.map(lambda i: try_login(base, "qu", f"wrong-{i}"), range(2)))
            assert spooled == [401] * 2
            assert len((home / "portal" / "audit-spool.jsonl").read_text().splitlines()) == 2
        finally:
            holder.wait(timeout=30)
        # Both workers write (and replay) now. Three at a time: with the address's two failures, a fourth
        # login in flight would be held back by the lockout (attempts count as failures until verified).
        after = []
        for _ in range(3):
            with ThreadPoolExecutor(3) as pool:
                after += pool.map(lambda i: try_login(base, "jgc", PASSWORD["township"]), range(3))
        assert after == [303] * 9
    rows = audit_rows(home)
    assert not (home / "portal" / "audit-spool.jsonl").exists()
    assert rows.event_id.is_unique and rows.event_id.notna().all()
    assert len(rows) == 1 + 2 + 9
    assert list(rows.reason.fillna("").value_counts().sort_index().items()) == [("", 10), ("bad_credentials", 2)]


def test_replaying_the_same_spool_twice_adds_nothing(tmp_path):
    """What two workers did: both read the spool before either removed it, and both inserted its rows."""
    from portal.audit import AuditLog

    spool = tmp_path / "spool.jsonl"
    row = {"occurred_at": dt.datetime(2026, 7, 1, 8, 0).isoformat(), "username": "qu", "role": "district",
           "action": "download", "report_id": "a" * 32, "file": "x.xlsx", "sha256": "b" * 64, "result": "allowed",
           "reason": None, "client": "127.0.0.1", "event_id": "0123456789abcdef0123456789abcdef"}
    first = AuditLog(f"duckdb:///{tmp_path / 'wh.duckdb'}", spool)
    second = AuditLog(f"duckdb:///{tmp_path / 'wh.duckdb'}", spool)
    for worker in (first, second):
        spool.write_text(json.dumps(row) + "\n", encoding="utf-8")
        worker.record(username="qu", action="login", result="success", client="127.0.0.1")
    rows = first.rows()
    assert list(rows.action) == ["download", "login", "login"]
    assert rows.event_id.is_unique


def test_logout_refused_for_csrf_is_audited(home, tmp_path):
    with portal_server(home, tmp_path) as base:
        session = login(base, "jgc", PASSWORD["township"])
        r = session.post(base + "/logout", data={}, allow_redirects=False)
        assert r.status_code == 403 and "返回报表目录" in r.text
        r = session.post(base + "/logout", data={"csrf_token": "x" * 43}, allow_redirects=False)
        assert r.status_code == 403
        assert session.get(base + "/reports", allow_redirects=False).status_code == 200  # still logged in
        anonymous = requests.post(base + "/logout", data={}, allow_redirects=False)
        assert anonymous.status_code == 403
    rows = audit_rows(home)
    logouts = rows[rows.action == "logout"]
    assert list(zip(logouts.username, logouts.result, logouts.reason)) == [
        ("jgc", "refused", "csrf"), ("jgc", "refused", "csrf"), ("-", "refused", "not_logged_in")]
