"""Sessions, CSRF tokens and login rate limiting.

A session is a signed cookie (itsdangerous, HMAC-SHA256 keyed by the portal secret) holding the user name, a
fingerprint of the user's password hash, a random session id, the CSRF token, the login time and the last-seen
time. Nothing else is kept on the server, so several uvicorn workers need no shared store. A session ends when
it is idle longer than ``session_minutes`` (each request slides it), older than ``session_max_hours``, after
logout (the id is revoked in this process; the idle timeout bounds it elsewhere), or when the user is removed or
their password changes. Before login an anonymous cookie carries only a CSRF token, so the login form is
CSRF-protected too. Every POST must send the token of its session (form field ``csrf_token``).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Callable

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
    def __init__(self, secret: bytes, idle_seconds: int, max_seconds: int, clock: Callable[[], float] = time.time):
        self._ser = URLSafeSerializer(secret, salt="kongchuo-portal-session")
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.clock = clock
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

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
        with self._lock:
            if data.get("sid") in self._revoked:
                return SessionState("expired", data)
        if now - float(data.get("seen", 0)) > self.idle_seconds or now - float(data.get("iat", 0)) > self.max_seconds:
            return SessionState("expired", data)
        return SessionState("ok", data)

    def touch(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "seen": int(self.clock())}

    def revoke(self, data: dict[str, Any]) -> None:
        now = self.clock()
        with self._lock:
            self._revoked[data.get("sid", "")] = now
            for sid, at in list(self._revoked.items()):  # forget ids whose cookies expired anyway
                if now - at > self.max_seconds:
                    del self._revoked[sid]


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


class LoginLimiter:
    """At most ``max_failures`` failed logins per client address and per user name within ``window`` seconds."""

    def __init__(self, max_failures: int, window: int, clock: Callable[[], float] = time.time):
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque[float]:
        q = self._fails[key]
        cutoff = self.clock() - self.window
        while q and q[0] < cutoff:
            q.popleft()
        return q

    def blocked(self, client: str, username: str) -> bool:
        with self._lock:
            return any(len(self._recent(k)) >= self.max_failures for k in (f"ip:{client}", f"user:{username}"))

    def failed(self, client: str, username: str) -> None:
        with self._lock:
            now = self.clock()
            for k in (f"ip:{client}", f"user:{username}"):
                self._recent(k).append(now)

    def succeeded(self, client: str, username: str) -> None:
        with self._lock:
            self._fails.pop(f"user:{username}", None)
