"""The portal as it runs in production, for tests that use real HTTP: ``python -m portal`` (uvicorn) on a free
loopback port, a users file with cheap argon2id hashes, and a logged-in ``requests`` session."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import requests
from argon2 import PasswordHasher

REPO = Path(__file__).resolve().parent.parent
SECRET = "scope-test-secret"
PASSWORD = {"district": "district-pass-2026", "township": "township-pass-2026", "school": "school-pass-2026",
            "auditor": "auditor-pass-2026"}


def write_users(path: Path, users: dict[str, tuple[str, dict]]) -> None:
    """``users``: name → (role, {township / township_code / school / school_code / district: value})."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # the portal verifies with these
    hashes = {role: cheap.hash(pw) for role, pw in PASSWORD.items()}
    lines = []
    for name, (role, conf) in users.items():
        lines += [f"[users.{name}]", f'role = "{role}"', f'display_name = "{name}"']
        lines += [f'{k} = "{v}"' for k, v in conf.items()]
        lines += [f'password_hash = "{hashes[role]}"', ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def portal_server(home: Path, logdir: Path, workers: int = 1, port: int | None = None,
                  **env_extra: str) -> Iterator[str]:
    """Run the portal on ``home`` until the block ends; yields its base URL."""
    port = port or free_port()
    env = {**os.environ, "KONGCHUO_HOME": str(home), "KONGCHUO_WAREHOUSE_URL": f"duckdb:///{home / 'warehouse.duckdb'}",
           "KONGCHUO_PORTAL_SECRET": SECRET, "PYTHONPATH": str(REPO), **env_extra}
    env.pop("KONGCHUO_PORTAL_USERS", None)
    logdir.mkdir(parents=True, exist_ok=True)
    log_path = logdir / f"portal-{port}-{time.monotonic_ns()}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "portal", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", str(workers)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, proc, log_path)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _wait_until_up(base: str, proc: subprocess.Popen, log_path: Path) -> None:
    for _ in range(300):
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            raise RuntimeError(log_path.read_text())
        time.sleep(0.1)
    raise RuntimeError("the portal did not start")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(base: str, username: str, password: str, headers: dict | None = None) -> requests.Session:
    session = requests.Session()
    if headers:
        session.headers.update(headers)
    token = csrf_of(session.get(base + "/login").text)
    r = session.post(base + "/login", data={"username": username, "password": password, "csrf_token": token},
                     allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/reports", (username, r.status_code)
    return session
