"""The portal's web app (Starlette): 登录, the catalogue, downloads by opaque report id, 追溯, 退出.

Run: ``python -m portal --host 127.0.0.1 --port 8080`` (``make portal``; plain ``uvicorn portal.app:app`` would
believe X-Forwarded-For from 127.0.0.1, see portal/__main__.py). Configuration from the environment
(``KONGCHUO_HOME``, ``KONGCHUO_WAREHOUSE_URL``, ``KONGCHUO_PORTAL_*``); see portal/config.py.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import time
import urllib.parse
from pathlib import Path
from typing import Callable

from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from portal.audit import AuditLog, AuditUnavailable
from portal.auth import COOKIE, CSRF_FIELD, LoginLimiter, Sessions, SessionState, csrf_ok
from portal.catalog import (
    KIND_LABELS,
    Catalogue,
    kind_order,
    listed_for,
    may_access,
    open_report,
    period_key,
    period_label,
    sha256_stream,
    strays_for,
)
from portal.config import PortalConfig
from portal.lineage_graph import lineage_svg
from portal.scope import ReferenceCache
from portal.trace import MAX_ROWS, TraceReader, trace_cell
from portal.users import TRACE_ROLES, User, UsersFileError, UserStore, verify_password

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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(specs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(s, strict=False) for s in specs)


def _is_in(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def client_address(request: Request, proxies: tuple[Network, ...]) -> str:
    """The address that counts for rate limits and the audit: the peer, unless the peer is a configured proxy;
    then the nearest X-Forwarded-For hop that is not itself a proxy (hops further left are client-controlled)."""
    peer = request.client.host if request.client else ""
    if not proxies or not _is_in(peer, proxies):
        return peer
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_in(hop, proxies):
            return hop if _is_ip(hop) else peer
    return peer


def _audit_name(username: str, known: bool) -> str:
    """Unknown login names may be mistyped passwords or personal names: store a short hash, not the text."""
    if known:
        return username
    return "?" + hashlib.sha256(username.encode()).hexdigest()[:12]


def _content_disposition(name: str, fallback: str) -> str:
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name)}"


class Portal:
    """The portal's state (users, sessions, limiter, catalogue, audit) and its request handlers."""

    def __init__(self, config: PortalConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config or PortalConfig.from_env()
        self.clock = clock
        self.reference = ReferenceCache(self.config.home)
        self.users = UserStore(self.config.users_path, self.reference)
        config = self.config
        self.sessions = Sessions(config.secret, config.session_minutes * 60, config.session_max_hours * 3600, clock,
                                 revoked_path=config.revoked_sessions)
        self.limiter = LoginLimiter(config.login_max_failures, config.login_window_seconds, clock,
                                    path=config.login_failures)  # shared by all workers
        self.catalogue = Catalogue(config.reports_root, config.secret,
                                   lambda code: self.reference.get().school_name(code))
        self.audit = AuditLog(self.config.warehouse_url, self.config.audit_spool)
        self.proxies = _networks(self.config.trusted_proxies)
        self.tracer = TraceReader(self.config.warehouse_url)

    def _client(self, request: Request) -> str:
        return client_address(request, self.proxies)

    def set_cookie(self, response: Response, data: dict) -> Response:
        response.set_cookie(COOKIE, self.sessions.dumps(data), max_age=self.config.session_max_hours * 3600,
                            httponly=True, samesite="strict", secure=self.config.secure_cookie, path="/")
        return response

    def finish(self, response: Response) -> Response:
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    def current(self, request: Request) -> tuple[SessionState, User | None]:
        state = self.sessions.load(request.cookies.get(COOKIE))
        if state.status != "ok":
            return state, None
        try:
            user = self.users.get(state.username or "")
        except UsersFileError:
            log.exception("users file unreadable")
            return SessionState("invalid", {}), None
        if user is None or user.fingerprint != state.data.get("fp"):
            return SessionState("expired", state.data), None  # removed user or changed password
        return state, user

    def page(self, request: Request, name: str, context: dict, status: int = 200) -> Response:
        return self.finish(TEMPLATES.TemplateResponse(request, name, {"kind_labels": KIND_LABELS, **context},
                                                 status_code=status))

    def error_page(self, request: Request, status: int, message: str, user: User | None = None) -> Response:
        """403/404/401 in the portal's layout, with a way back."""
        titles = {401: "请先登录", 403: "无权访问", 404: "报表不存在", 409: "报表正在更新", 503: "暂停服务"}
        return self.page(request, "error.html", {"user": user, "status": status, "heading": titles.get(status, "请求无效"),
                                            "message": message}, status)

    def login_page(self, request: Request, message: str = "", status: int = 200) -> Response:
        data = self.sessions.new_anonymous()
        response = self.page(request, "login.html", {"csrf": data["csrf"], "message": message,
                                                "users_missing": not self.config.users_path.exists()}, status)
        return self.set_cookie(response, data)

    async def home(self, request: Request) -> Response:
        _, user = self.current(request)
        return self.finish(RedirectResponse("/reports" if user else "/login", status_code=303))

    async def login_form(self, request: Request) -> Response:
        state, user = self.current(request)
        if user:
            return self.finish(RedirectResponse("/reports", status_code=303))
        message = "登录已过期，请重新登录" if state.status == "expired" else ""
        return self.login_page(request, message)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        state = self.sessions.load(request.cookies.get(COOKIE))
        client = self._client(request)
        username = str(form.get("username", "")).strip()[:64]
        password = str(form.get("password", ""))
        user = self.users.get(username) if username else None
        who = _audit_name(username, user is not None)

        async def refuse(reason: str, message: str, status: int) -> Response:
            try:
                await run_in_threadpool(self.audit.record, username=who, role=user.role if user else None,
                                        action="login", result="failure", reason=reason, client=client)
            except AuditUnavailable:
                return self.finish(PlainTextResponse("审计日志不可用，暂停服务", status_code=503))
            return self.login_page(request, message, status)

        if state.status not in ("anonymous", "ok") or not csrf_ok(state.csrf, form.get(CSRF_FIELD)):
            return await refuse("csrf", "页面已过期，请重新登录", 403)
        token = self.limiter.attempt(client, username)  # counted as a failure until the password proves good
        if token is None:
            return await refuse("rate_limited", "登录失败次数过多，请稍后再试", 429)
        if not username or not await run_in_threadpool(verify_password, user, password):
            return await refuse("bad_credentials", "用户名或密码错误", 401)
        self.limiter.succeeded(client, username, token)
        if user.scope_error:
            return await refuse("unresolved_scope", "账号的学校或乡镇无法确定，请联系区教育局管理员核对账号配置", 403)
        try:
            await run_in_threadpool(self.audit.record, username=user.username, role=user.role, action="login",
                                    result="success", client=client)
        except AuditUnavailable:
            return self.finish(PlainTextResponse("审计日志不可用，暂停服务", status_code=503))
        response = self.finish(RedirectResponse("/reports", status_code=303))
        return self.set_cookie(response, self.sessions.new_login(user.username, user.fingerprint))  # new id: no fixation

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        state, user = self.current(request)
        if user is None or not csrf_ok(state.csrf, form.get(CSRF_FIELD)):
            await self._try_audit(username=user.username if user else (state.username or "-"),
                             role=user.role if user else None, action="logout", result="refused",
                             reason="csrf" if user else "not_logged_in", client=self._client(request))
            return self.error_page(request, 403, "退出请求无效（页面已过期），请返回报表目录后重试。", user)
        self.sessions.revoke(state.data)
        try:
            await run_in_threadpool(self.audit.record, username=user.username, role=user.role, action="logout",
                                    result="success", client=self._client(request))
        except AuditUnavailable:
            pass
        response = self.finish(RedirectResponse("/login", status_code=303))
        response.delete_cookie(COOKIE, path="/")
        return response

    async def reports(self, request: Request) -> Response:
        state, user = self.current(request)
        if user is None:
            return self.finish(RedirectResponse("/login", status_code=303))
        everything, strays = await run_in_threadpool(self.catalogue.scan_all)
        entries = listed_for(user, everything)
        periods = sorted({r.period for r in entries}, key=period_key, reverse=True)
        labels = {r.kind: r.kind_label for r in entries}  # reports the portal has no code for: the manifest's name
        kinds = sorted(labels, key=kind_order)
        period = request.query_params.get("period", "")
        kind = request.query_params.get("kind", "")
        query = request.query_params.get("q", "").strip()[:50]
        shown = [r for r in entries if (not period or r.period == period) and (not kind or r.kind == kind)
                 and r.matches(query)]
        shown = [await run_in_threadpool(self.catalogue.sized, r) for r in shown]  # R5S: the extract's size
        response = self.page(request, "catalogue.html", {
            "user": user, "csrf": state.csrf, "reports": shown, "periods": periods, "kinds": kinds,
            "kind_labels": {**KIND_LABELS, **labels},
            "period": period, "kind": kind, "q": query, "period_label": period_label,
            "strays": [s for s in strays_for(user, strays) if not period or s.period == period],
            "session_minutes": self.config.session_minutes,
        })
        return self.set_cookie(response, self.sessions.touch(state.data))

    async def download(self, request: Request) -> Response:
        report_id = request.path_params["report_id"]
        client = self._client(request)
        state, user = self.current(request)
        if user is None:
            reason = {"expired": "session_expired", "invalid": "bad_session"}.get(state.status, "not_logged_in")
            await self._try_audit(username=state.username or "-", action="download", result="refused",
                             report_id=report_id[:64], reason=reason, client=client)
            return self.error_page(request, 401, "登录已过期或尚未登录。")
        report = await run_in_threadpool(self.catalogue.get, report_id)
        if report is None:
            await self._try_audit(username=user.username, role=user.role, action="download", result="refused",
                             report_id=report_id[:64], reason="unknown_id", client=client)
            return self.error_page(request, 404, "没有这份报表，或它已被新版本替代。请回到报表目录重新选择。", user)
        if not may_access(user, report):
            await self._try_audit(username=user.username, role=user.role, action="download", result="refused",
                             report_id=report.id, file=report.audit_file, reason="forbidden", client=client)
            return self.error_page(request, 403, "您的账号无权下载这份报表。", user)
        try:
            fh = await run_in_threadpool(open_report, report)
        except OSError:
            return self.error_page(request, 404, "报表文件已不存在，请回到报表目录重新选择。", user)
        try:
            sha = await run_in_threadpool(sha256_stream, fh)
            if sha != report.sha256:  # changed since the scan: not the file the manifest vouches for
                fh.close()
                await self._try_audit(username=user.username, role=user.role, action="download", result="refused",
                                 report_id=report.id, file=report.audit_file, reason="changed", client=client)
                return self.error_page(request, 409, "报表正在更新，请稍后回到报表目录重新下载。", user)
            body = await run_in_threadpool(self.catalogue.extract, report, fh) if report.sheet else None
        except Exception:
            fh.close()
            raise
        if body is not None:
            sha = hashlib.sha256(body).hexdigest()  # the bytes actually served
        try:
            await run_in_threadpool(self.audit.record, username=user.username, role=user.role, action="download",
                                    result="allowed", report_id=report.id, file=report.audit_file, sha256=sha,
                                    client=client)
        except AuditUnavailable:
            fh.close()
            return self.finish(PlainTextResponse("审计日志不可用，暂停下载", status_code=503))
        headers = {"Content-Disposition": _content_disposition(report.display_name,
                                                               f"{report.kind}_{report.period}.xlsx"),
                   "X-Report-Sha256": sha}
        if body is not None:
            fh.close()
            return self.finish(Response(body, media_type=XLSX, headers=headers))  # Content-Length: len(body)

        def chunks():
            with fh:
                for block in iter(lambda: fh.read(1 << 16), b""):
                    yield block

        headers["Content-Length"] = str(os.fstat(fh.fileno()).st_size)
        return self.finish(StreamingResponse(chunks(), media_type=XLSX, headers=headers))

    async def _try_audit(self, **row) -> None:
        try:
            await run_in_threadpool(self.audit.record, **row)
        except AuditUnavailable:
            log.error("audit unavailable; refused download not recorded")

    async def trace_guard(self, request: Request, what: str) -> tuple[SessionState, User | None, Response | None]:
        """The signed-in user allowed on 追溯 pages, or the response refusing them (audited)."""
        state, user = self.current(request)
        if user is None:
            return state, None, self.finish(RedirectResponse("/login", status_code=303))
        if user.role not in TRACE_ROLES or user.scope_error:
            await self._try_audit(username=user.username, role=user.role, action="trace", result="refused",
                             report_id=what, reason="forbidden", client=self._client(request))
            return state, user, self.error_page(request, 403, "追溯页面仅供审计和区教育局用户使用。", user)
        return state, user, None

    async def audit_view(self, user: User, request: Request, what: str, cell: str | None = None) -> Response | None:
        try:
            await run_in_threadpool(self.audit.record, username=user.username, role=user.role, action="trace",
                                    result="allowed", report_id=what, file=cell, client=self._client(request))
        except AuditUnavailable:
            return self.error_page(request, 503, "审计日志不可用，暂停服务。", user)
        return None

    async def trace(self, request: Request) -> Response:
        q = request.query_params
        report, period = q.get("report", "")[:8], q.get("period", "")[:8]
        what = f"{report}:{period}" if report else "trace"
        state, user, refused = await self.trace_guard(request, what)
        if refused:
            return refused
        try:
            choices = await run_in_threadpool(self.tracer.choices)
            counts = await run_in_threadpool(self.tracer.counts, report, period) if report else None
            runs = await run_in_threadpool(self.tracer.runs, report, period) if report else None
        except Exception as exc:  # SQL errors carry their parameters (ID numbers): log the type only
            log.error("trace: warehouse unavailable (%s)", type(exc).__name__)
            return self.error_page(request, 503, "数据仓库正忙（流水线正在运行），请稍后再试。", user)
        blocked = await self.audit_view(user, request, what)
        if blocked:
            return blocked
        table = None
        if counts is not None and len(counts):
            wide = counts.pivot(index="row_key", columns="column_key", values="n").fillna(0).astype(int)
            table = {"columns": list(wide.columns), "rows": [
                (row, self._row_label(row), [int(v) for v in values]) for row, values in
                zip(wide.index[:MAX_ROWS], wide.values[:MAX_ROWS])], "more": max(0, len(wide) - MAX_ROWS)}
        response = self.page(request, "trace.html", {
            "user": user, "csrf": state.csrf, "choices": choices.to_dict("records"), "report": report,
            "period": period, "table": table, "runs": runs.to_dict("records") if runs is not None else [],
        })
        return self.set_cookie(response, self.sessions.touch(state.data))

    def _row_label(self, row_key: str) -> str:
        ref = self.reference.get()
        if row_key.startswith("township:"):
            code = row_key.split(":", 1)[1]
            name = next((n for c, n, _ in ref.townships if c == code), code)
            return f"{name}（户籍比对）"
        return ref.school_name(row_key) or row_key

    async def trace_cell_page(self, request: Request) -> Response:
        q = request.query_params
        report, period = q.get("report", "")[:8], q.get("period", "")[:8]
        row, column = q.get("row", "")[:64], q.get("column", "")[:64]
        what = f"{report}:{period}"
        state, user, refused = await self.trace_guard(request, what)
        if refused:
            return refused
        try:
            found = await run_in_threadpool(trace_cell, self.tracer, report, period, row, column)
        except Exception as exc:  # SQL errors carry their parameters (ID numbers): log the type only
            log.error("trace: warehouse unavailable (%s)", type(exc).__name__)
            return self.error_page(request, 503, "数据仓库正忙（流水线正在运行），请稍后再试。", user)
        blocked = await self.audit_view(user, request, what, f"{row}/{column}")
        if blocked:
            return blocked
        response = self.page(request, "trace_cell.html", {
            "user": user, "csrf": state.csrf, "report": report, "period": period, "row": row,
            "row_label": self._row_label(row), "column": column, "dagster_url": self.config.dagster_url,
            "lineage_svg": Markup(lineage_svg(report, column)), **found})
        return self.set_cookie(response, self.sessions.touch(state.data))

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def not_found(self, request: Request, exc: Exception) -> Response:
        _, user = self.current(request)
        return self.error_page(request, 404, "页面不存在。", user)

    def build(self) -> Starlette:
        app = Starlette(exception_handlers={404: self.not_found}, routes=[
            Route("/", self.home),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/reports", self.reports, methods=["GET"]),
            Route("/download/{report_id:path}", self.download, methods=["GET"]),
            Route("/trace", self.trace, methods=["GET"]),
            Route("/trace/cell", self.trace_cell_page, methods=["GET"]),
            Route("/healthz", self.healthz),
        ])
        app.state.config = self.config
        app.state.audit = self.audit
        app.state.catalogue = self.catalogue
        app.state.sessions = self.sessions
        app.state.users = self.users
        return app


def create_app(config: PortalConfig | None = None, clock: Callable[[], float] = time.time) -> Starlette:
    return Portal(config, clock).build()


class _LazyApp:
    """``portal.app:app`` for uvicorn: built on first use, so importing this module has no side effects."""

    def __init__(self) -> None:
        self._app: Starlette | None = None

    async def __call__(self, scope, receive, send) -> None:
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)


app = _LazyApp()
