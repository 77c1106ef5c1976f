"""Sessions, CSRF tokens and login rate limiting.

A session is a signed cookie (itsdangerous, HMAC-SHA256 keyed by the portal secret) holding the user name, a
fingerprint of the user's password hash, a random session id, the CSRF token, the login time and the last-seen
time. A session ends when it is idle longer than ``session_minutes`` (each request slides it), older than
``session_max_hours``, after logout, or when the user is removed or their password changes. Logged-out session
ids are appended to ``$KONGCHUO_HOME/portal/revoked-sessions`` (RevocationList), which every worker re-reads
when it changes, so a logout holds across workers and restarts. Before login an anonymous cookie carries only a CSRF token, so the login form is
CSRF-protected too. Every POST must send the token of its session (form field ``csrf_token``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "kongchuo_portal"
CSRF_FIELD = "csrf_token"


@dataclass
class SessionState:
    """What a request's cookie said: ``status`` is ok, anonymous, expired, invalid or none."""

    status: str
    data: dict[str, Any]

    @property
    def username(self) -> str | None:
        return self.data.get("u")

    @property
    def csrf(self) -> str | None:
        return self.data.get("csrf")


class Sessions:
    def __init__(self, secret: bytes, idle_seconds: int, max_seconds: int, clock: Callable[[], float] = time.time,
                 revoked_path: Path | None = None):
        self._ser = URLSafeSerializer(secret, salt="kongchuo-portal-session")
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.clock = clock
        self._revoked = RevocationList(revoked_path, max_seconds, clock)

    def new_anonymous(self) -> dict[str, Any]:
        return {"anon": 1, "csrf": secrets.token_urlsafe(32), "iat": int(self.clock())}

    def new_login(self, username: str, fingerprint: str) -> dict[str, Any]:
        now = int(self.clock())
        return {"u": username, "fp": fingerprint, "sid": secrets.token_urlsafe(16),
                "csrf": secrets.token_urlsafe(32), "iat": now, "seen": now}

    def dumps(self, data: dict[str, Any]) -> str:
        return self._ser.dumps(data)

    def load(self, cookie: str | None) -> SessionState:
        if not cookie:
            return SessionState("none", {})
        try:
            data = self._ser.loads(cookie)
        except BadSignature:
            return SessionState("invalid", {})
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return SessionState("invalid", {})
        now = self.clock()
        if data.get("anon"):
            # A login form is good for the idle period too.
            if now - float(data.get("iat", 0)) > self.idle_seconds:
                return SessionState("expired", {})
            return SessionState("anonymous", data)
        if not isinstance(data.get("u"), str):
            return SessionState("invalid", {})
        if self._revoked.contains(str(data.get("sid", ""))):
            return SessionState("expired", data)
        if now - float(data.get("seen", 0)) > self.idle_seconds or now - float(data.get("iat", 0)) > self.max_seconds:
            return SessionState("expired", data)
        return SessionState("ok", data)

    def touch(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "seen": int(self.clock())}

    def revoke(self, data: dict[str, Any]) -> None:
        self._revoked.add(str(data.get("sid", "")))


class RevocationList:
    """Revoked session ids, one ``<sid> <unix time>`` line each in a file shared by all workers (in memory
    only when ``path`` is None). Appends are atomic (O_APPEND, one write); readers re-read the file when its
    size or time changes. Ids older than the longest session are dropped when the file is compacted."""

    def __init__(self, path: Path | None, max_seconds: int, clock: Callable[[], float] = time.time):
        self.path = Path(path) if path else None
        self.max_seconds = max_seconds
        self.clock = clock
        self._ids: dict[str, float] = {}
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def add(self, sid: str) -> None:
        if not sid:
            return
        now = self.clock()
        with self._lock:
            self._ids[sid] = now
            if self.path is None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, f"{sid} {now:.0f}\n".encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            self._compact(now)

    def contains(self, sid: str) -> bool:
        with self._lock:
            self._reload()
            return bool(sid) and sid in self._ids

    def _reload(self) -> None:
        if self.path is None:
            return
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return
        stamp = (st.st_size, st.st_mtime_ns)
        if stamp == self._stamp:
            return
        for line in self.path.read_text(encoding="ascii", errors="ignore").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                self._ids[parts[0]] = float(parts[1])
        self._stamp = stamp

    def _compact(self, now: float) -> None:
        """Rewrite the file without ids whose sessions have ended anyway (at most once it holds 1000 lines)."""
        self._reload()
        if len(self._ids) < 1000:
            return
        self._ids = {s: t for s, t in self._ids.items() if now - t <= self.max_seconds}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(f"{s} {t:.0f}\n" for s, t in self._ids.items()), encoding="ascii")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        self._stamp = None


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


class LoginLimiter:
    """At most ``max_failures`` failed logins per client address and per user name within ``window`` seconds.

    An attempt is counted as a failure *before* the (slow) password check, in the same locked step that checks
    the limit (:meth:`attempt`), and taken back on success: 40 parallel logins cannot all pass the check
    while the first verifications are still running. With ``path`` the counts live in that file under an
    exclusive file lock, so all portal workers share one limit; keys are hashed (a mistyped user name may be a
    person's name or ID number)."""

    def __init__(self, max_failures: int, window: int, clock: Callable[[], float] = time.time,
                 path: Path | None = None):
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self.path = Path(path) if path else None
        self._memory: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _counts(self) -> Iterator[dict[str, list[float]]]:
        """The failure times by key, locked for this process and (with a file) for every worker."""
        with self._lock:
            if self.path is None:
                yield self._memory
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                counts = self._load()
                yield counts
                self._save(counts)
            finally:
                os.close(fd)

    def _load(self) -> dict[str, list[float]]:
        try:
            data = json.loads(self.path.read_text(encoding="ascii"))
        except (FileNotFoundError, ValueError):
            return {}
        return {k: [float(t) for t in v] for k, v in data.items() if isinstance(v, list)}

    def _save(self, counts: dict[str, list[float]]) -> None:
        cutoff = self.clock() - self.window
        live = {k: v for k, v in ((k, [t for t in v if t >= cutoff]) for k, v in counts.items()) if v}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            json.dump(live, fh)
        os.replace(tmp, self.path)

    def _recent(self, counts: dict[str, list[float]], key: str) -> list[float]:
        cutoff = self.clock() - self.window
        counts[key] = [t for t in counts.get(key, []) if t >= cutoff]
        return counts[key]

    @staticmethod
    def _keys(client: str, username: str) -> tuple[str, str]:
        return (hashlib.sha256(f"ip:{client}".encode()).hexdigest()[:24],
                hashlib.sha256(f"user:{username}".encode()).hexdigest()[:24])

    def attempt(self, client: str, username: str) -> float | None:
        """Check the limit and count this attempt as a failure, atomically. None: blocked. Otherwise a token
        for :meth:`succeeded`."""
        keys = self._keys(client, username)
        with self._counts() as counts:
            if any(len(self._recent(counts, k)) >= self.max_failures for k in keys):
                return None
            now = self.clock()  # the token: equal tokens are interchangeable
            for k in keys:
                self._recent(counts, k).append(now)
            return now

    def succeeded(self, client: str, username: str, token: float) -> None:
        """A good password: the user's failures are forgiven, the address keeps its others."""
        ip_key, user_key = self._keys(client, username)
        with self._counts() as counts:
            counts.pop(user_key, None)
            if token in counts.get(ip_key, []):
                counts[ip_key].remove(token)
