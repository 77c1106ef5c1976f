"""Where the portal finds its users, secret and spool, and its tunables, all from the environment."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from kongchuo.settings import kongchuo_home, warehouse_url


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


@dataclass(frozen=True)
class PortalConfig:
    home: Path
    users_path: Path
    warehouse_url: str
    secret: bytes
    session_minutes: int = 30           # idle timeout; each request slides it
    session_max_hours: int = 12         # absolute lifetime of a login
    login_max_failures: int = 5         # per client address and per user name ...
    login_window_seconds: int = 900     # ... within this window, then 429 until it passes
    secure_cookie: bool = False         # set behind HTTPS
    # Addresses/networks of reverse proxies whose X-Forwarded-For is believed (KONGCHUO_PORTAL_TRUSTED_PROXIES,
    # comma-separated, e.g. "127.0.0.1,10.0.0.0/8"). Empty: the header is ignored, the peer address counts.
    trusted_proxies: tuple[str, ...] = ()
    # The Dagster UI (KONGCHUO_DAGSTER_URL, e.g. http://127.0.0.1:3001 for `make audit`): run ids link to its run page.
    dagster_url: str = ""

    @property
    def portal_dir(self) -> Path:
        return self.home / "portal"

    @property
    def reports_root(self) -> Path:
        return self.home / "reports"

    @property
    def audit_spool(self) -> Path:
        return self.portal_dir / "audit-spool.jsonl"

    @property
    def revoked_sessions(self) -> Path:
        return self.portal_dir / "revoked-sessions"

    @property
    def login_failures(self) -> Path:
        return self.portal_dir / "login-failures.json"

    @classmethod
    def from_env(cls, home: Path | None = None) -> "PortalConfig":
        home = (home or kongchuo_home()).resolve()
        users = os.environ.get("KONGCHUO_PORTAL_USERS") or str(home / "portal" / "users.toml")
        return cls(
            home=home,
            users_path=Path(users),
            warehouse_url=warehouse_url(),
            secret=load_secret(home),
            session_minutes=_int_env("KONGCHUO_PORTAL_SESSION_MINUTES", 30),
            session_max_hours=_int_env("KONGCHUO_PORTAL_SESSION_MAX_HOURS", 12),
            login_max_failures=_int_env("KONGCHUO_PORTAL_LOGIN_MAX_FAILURES", 5),
            login_window_seconds=_int_env("KONGCHUO_PORTAL_LOGIN_WINDOW_SECONDS", 900),
            secure_cookie=os.environ.get("KONGCHUO_PORTAL_SECURE_COOKIE", "") in ("1", "true", "yes"),
            trusted_proxies=tuple(p.strip() for p in os.environ.get("KONGCHUO_PORTAL_TRUSTED_PROXIES", "").split(",")
                                  if p.strip()),
            dagster_url=os.environ.get("KONGCHUO_DAGSTER_URL", "").strip().rstrip("/"),
        )


def load_secret(home: Path) -> bytes:
    """``KONGCHUO_PORTAL_SECRET``, else ``$KONGCHUO_HOME/portal/secret.key`` (created once, mode 0600).
    It signs session cookies and derives report ids, so keep it across restarts."""
    env = os.environ.get("KONGCHUO_PORTAL_SECRET", "").strip()
    if env:
        return env.encode()
    path = home / "portal" / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker created it first
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
