"""The portal's web app (Starlette): 登录, the catalogue, downloads by opaque report id, 退出.

Run: ``uvicorn portal.app:app --host 127.0.0.1 --port 8080`` (``make portal``). Configuration from the
environment (``KONGCHUO_HOME``, ``KONGCHUO_WAREHOUSE_URL``, ``KONGCHUO_PORTAL_*``); see portal/config.py.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.parse
from pathlib import Path
from typing import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from portal.audit import AuditLog, AuditUnavailable
from portal.auth import COOKIE, CSRF_FIELD, LoginLimiter, Sessions, SessionState, csrf_ok
from portal.catalog import (KIND_LABELS, Catalogue, Report, listed_for, may_access, open_report, period_key,
                            period_label, school_extract, sha256_stream)
from portal.config import PortalConfig
from portal.users import User, UserStore, UsersFileError, verify_password

log = logging.getLogger("portal")
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'",
}


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _audit_name(username: str, known: bool) -> str:
    """Unknown login names may be mistyped passwords or personal names: store a short hash, not the text."""
    if known:
        return username
    return "?" + hashlib.sha256(username.encode()).hexdigest()[:12]


def _content_disposition(name: str, fallback: str) -> str:
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name)}"


def create_app(config: PortalConfig | None = None, clock: Callable[[], float] = time.time) -> Starlette:
    config = config or PortalConfig.from_env()
    users = UserStore(config.users_path)
    sessions = Sessions(config.secret, config.session_minutes * 60, config.session_max_hours * 3600, clock)
    limiter = LoginLimiter(config.login_max_failures, config.login_window_seconds, clock)
    catalogue = Catalogue(config.reports_root, config.secret)
    audit = AuditLog(config.warehouse_url, config.audit_spool)

    def set_cookie(response: Response, data: dict) -> Response:
        response.set_cookie(COOKIE, sessions.dumps(data), max_age=config.session_max_hours * 3600, httponly=True,
                            samesite="strict", secure=config.secure_cookie, path="/")
        return response

    def finish(response: Response) -> Response:
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    def current(request: Request) -> tuple[SessionState, User | None]:
        state = sessions.load(request.cookies.get(COOKIE))
        if state.status != "ok":
            return state, None
        try:
            user = users.get(state.username or "")
        except UsersFileError:
            log.exception("users file unreadable")
            return SessionState("invalid", {}), None
        if user is None or user.fingerprint != state.data.get("fp"):
            return SessionState("expired", state.data), None  # removed user or changed password
        return state, user

    def page(request: Request, name: str, context: dict, status: int = 200) -> Response:
        return finish(TEMPLATES.TemplateResponse(request, name, {"kind_labels": KIND_LABELS, **context},
                                                 status_code=status))

    def login_page(request: Request, message: str = "", status: int = 200) -> Response:
        data = sessions.new_anonymous()
        response = page(request, "login.html", {"csrf": data["csrf"], "message": message,
                                                "users_missing": not config.users_path.exists()}, status)
        return set_cookie(response, data)

    async def home(request: Request) -> Response:
        _, user = current(request)
        return finish(RedirectResponse("/reports" if user else "/login", status_code=303))

    async def login_form(request: Request) -> Response:
        state, user = current(request)
        if user:
            return finish(RedirectResponse("/reports", status_code=303))
        message = "登录已过期，请重新登录" if state.status == "expired" else ""
        return login_page(request, message)

    async def login(request: Request) -> Response:
        form = await request.form()
        state = sessions.load(request.cookies.get(COOKIE))
        client = _client(request)
        username = str(form.get("username", "")).strip()[:64]
        password = str(form.get("password", ""))
        user = users.get(username) if username else None
        who = _audit_name(username, user is not None)

        async def refuse(reason: str, message: str, status: int) -> Response:
            try:
                await run_in_threadpool(audit.record, username=who, role=user.role if user else None,
                                        action="login", result="failure", reason=reason, client=client)
            except AuditUnavailable:
                return finish(PlainTextResponse("审计日志不可用，暂停服务", status_code=503))
            return login_page(request, message, status)

        if state.status not in ("anonymous", "ok") or not csrf_ok(state.csrf, form.get(CSRF_FIELD)):
            return await refuse("csrf", "页面已过期，请重新登录", 403)
        if limiter.blocked(client, username):
            return await refuse("rate_limited", "登录失败次数过多，请稍后再试", 429)
        if not username or not await run_in_threadpool(verify_password, user, password):
            limiter.failed(client, username)
            return await refuse("bad_credentials", "用户名或密码错误", 401)
        limiter.succeeded(client, username)
        try:
            await run_in_threadpool(audit.record, username=user.username, role=user.role, action="login",
                                    result="success", client=client)
        except AuditUnavailable:
            return finish(PlainTextResponse("审计日志不可用，暂停服务", status_code=503))
        response = finish(RedirectResponse("/reports", status_code=303))
        return set_cookie(response, sessions.new_login(user.username, user.fingerprint))  # new id: no fixation

    async def logout(request: Request) -> Response:
        form = await request.form()
        state, user = current(request)
        if user is None or not csrf_ok(state.csrf, form.get(CSRF_FIELD)):
            return finish(PlainTextResponse("请求无效", status_code=403))
        sessions.revoke(state.data)
        try:
            await run_in_threadpool(audit.record, username=user.username, role=user.role, action="logout",
                                    result="success", client=_client(request))
        except AuditUnavailable:
            pass
        response = finish(RedirectResponse("/login", status_code=303))
        response.delete_cookie(COOKIE, path="/")
        return response

    async def reports(request: Request) -> Response:
        state, user = current(request)
        if user is None:
            return finish(RedirectResponse("/login", status_code=303))
        entries = listed_for(user, await run_in_threadpool(catalogue.scan))
        periods = sorted({r.period for r in entries}, key=period_key, reverse=True)
        kinds = [k for k in KIND_LABELS if any(r.kind == k for r in entries)]
        period = request.query_params.get("period", "")
        kind = request.query_params.get("kind", "")
        shown = [r for r in entries if (not period or r.period == period) and (not kind or r.kind == kind)]
        response = page(request, "catalogue.html", {
            "user": user, "csrf": state.csrf, "reports": shown, "periods": periods, "kinds": kinds,
            "period": period, "kind": kind, "period_label": period_label,
            "session_minutes": config.session_minutes,
        })
        return set_cookie(response, sessions.touch(state.data))

    async def download(request: Request) -> Response:
        report_id = request.path_params["report_id"]
        client = _client(request)
        state, user = current(request)
        if user is None:
            reason = {"expired": "session_expired", "invalid": "bad_session"}.get(state.status, "not_logged_in")
            await _try_audit(username=state.username or "-", action="download", result="refused",
                             report_id=report_id[:64], reason=reason, client=client)
            return finish(HTMLResponse('<p>请先<a href="/login">登录</a>。</p>', status_code=401))
        report = await run_in_threadpool(catalogue.get, report_id)
        if report is None:
            await _try_audit(username=user.username, role=user.role, action="download", result="refused",
                             report_id=report_id[:64], reason="unknown_id", client=client)
            return finish(PlainTextResponse("报表不存在", status_code=404))
        if not may_access(user, report):
            await _try_audit(username=user.username, role=user.role, action="download", result="refused",
                             report_id=report.id, file=report.audit_file, reason="forbidden", client=client)
            return finish(PlainTextResponse("无权访问该报表", status_code=403))
        try:
            fh = await run_in_threadpool(open_report, report)
        except OSError:
            return finish(PlainTextResponse("报表不存在", status_code=404))
        try:
            sha = await run_in_threadpool(sha256_stream, fh)  # the bytes actually served
            body = await run_in_threadpool(school_extract, fh, report.sheet) if report.sheet else None
        except Exception:
            fh.close()
            raise
        try:
            await run_in_threadpool(audit.record, username=user.username, role=user.role, action="download",
                                    result="allowed", report_id=report.id, file=report.audit_file, sha256=sha,
                                    client=client)
        except AuditUnavailable:
            fh.close()
            return finish(PlainTextResponse("审计日志不可用，暂停下载", status_code=503))
        headers = {"Content-Disposition": _content_disposition(report.display_name,
                                                               f"{report.kind}_{report.period}.xlsx"),
                   "X-Report-Sha256": sha}
        if body is not None:
            fh.close()
            return finish(Response(body, media_type=XLSX, headers=headers))

        def chunks():
            with fh:
                for block in iter(lambda: fh.read(1 << 16), b""):
                    yield block

        headers["Content-Length"] = str(os.fstat(fh.fileno()).st_size)
        return finish(StreamingResponse(chunks(), media_type=XLSX, headers=headers))

    async def _try_audit(**row) -> None:
        try:
            await run_in_threadpool(audit.record, **row)
        except AuditUnavailable:
            log.error("audit unavailable; refused download not recorded")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(routes=[
        Route("/", home),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/reports", reports, methods=["GET"]),
        Route("/download/{report_id:path}", download, methods=["GET"]),
        Route("/healthz", healthz),
    ])
    app.state.config = config
    app.state.audit = audit
    app.state.catalogue = catalogue
    app.state.sessions = sessions
    return app


class _LazyApp:
    """``portal.app:app`` for uvicorn: built on first use, so importing this module has no side effects."""

    def __init__(self) -> None:
        self._app: Starlette | None = None

    async def __call__(self, scope, receive, send) -> None:
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)


app = _LazyApp()
