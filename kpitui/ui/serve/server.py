"""The web server of ``kpitui serve``: aiohttp, with textual-serve's app sessions and terminal page.

Every request passes :meth:`KpiServer.guard` first: the token (``?token=``,
once; it is swapped for an HttpOnly, SameSite=Strict session cookie and a
redirect to the same page without it) or a ``[serve.users]`` login, else
401/403 and never a websocket. Each accepted websocket is one browser
session: its own ``kpitui tui --no-collect [--read-only]`` process, driven
through textual-serve's :class:`~textual_serve.app_service.AppService`; one
is kept started ahead of the next session (:mod:`.apps`).
At most ``max_sessions`` run at once; one without a key press or resize for
``idle_seconds`` is closed. The access log prints the path, never the query
string, and every log line passes :func:`kpitui.secrets.redact`.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import os
import secrets
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
import textual_serve
from aiohttp import WSMsgType, web
from aiohttp.abc import AbstractAccessLogger
from textual_serve.download_manager import DownloadManager

from ...secrets import redact, remember
from ...serve_auth import SessionKeys, hash_password, same_secret, verify_password
from ...serve_command import ServePlan
from .apps import STOP_SECONDS, SessionService, WarmSpare

log = logging.getLogger("kpitui.serve")
TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(textual_serve.__file__).with_name("static")
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


class RedactingFormatter(logging.Formatter):
    """``HH:MM:SS message``, with every known secret (the token) masked, tracebacks included.

    The message is one line of printable text: a line break, an escape sequence or a bidirectional override in
    what a client sent (a request's path) is written out (``\\n``, ``\\x1b``), never forging a line or
    acting on the operator's terminal.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def one_line(text: str) -> str:
    """``text`` with every character that is not printable (controls, line breaks, bidi overrides) escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class AccessLogger(AbstractAccessLogger):
    """One line per request: client, method, path (no query string, no referrer), status, bytes, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %sB %.0fms',
            request.remote,
            request.method,
            request.path,
            response.status,
            response.body_length,
            time * 1000,
        )


#: How long a connection has to send a request's headers, from its opening or its last answer; also how long an
#: idle keep-alive connection stays open, and how long a sign-in may take to send its form. aiohttp has no
#: header-read timeout of its own: a client sending one byte a second (slowloris) held its connection, so a file
#: descriptor, for its default keep-alive of an hour; about a thousand such clients (the usual 1,024 descriptors)
#: and no one else could connect.
REQUEST_SECONDS = 20.0


class OutOfDescriptorsOneLine(logging.Filter):
    """asyncio logs "socket.accept() out of system resource" with a traceback each time it fails to accept a
    connection for want of file descriptors: measured, 117,445 tracebacks (47 MB) in 30 s of 1,100 open
    connections. Such a record becomes one warning line, at most one per :data:`REQUEST_SECONDS`."""

    def __init__(self) -> None:
        super().__init__()
        self.last = -REQUEST_SECONDS
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not (isinstance(exc, OSError) and "out of system resource" in str(record.msg)):
            return True
        now = time.monotonic()
        if now - self.last < REQUEST_SECONDS:
            self.dropped += 1
            return False
        self.last = now
        more = f"; {self.dropped} more since the last such line" if self.dropped else ""
        self.dropped = 0
        record.msg, record.args = (
            "refusing connections: %s (%d open files allowed)%s",
            (
                exc.strerror or exc,
                _open_files_limit(),
                more,
            ),
        )
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _open_files_limit() -> int:
    try:
        import resource

        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return -1


def raise_open_files_limit(ceiling: int = 1 << 20) -> None:
    """The soft limit on open files up to the hard one: each connection holds one, each session's app a few.

    Many systems start a process with a soft limit of 1,024 under a hard one of 500,000 or more.
    """
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = ceiling if hard == resource.RLIM_INFINITY else min(hard, ceiling)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, OSError, ValueError):  # no resource module (Windows), or the system refuses: keep it
        pass


class BadRequestsOneLine(logging.Filter):
    """aiohttp logs a request it cannot parse (a line longer than 8 KiB, 20,000 headers, a NUL in the path,
    Content-Length beside Transfer-Encoding) as "Error handling request" with a traceback: anyone who can reach
    the port could fill the operator's log with tracebacks. Such a record becomes one warning line,
    ``refused ADDRESS: bad HTTP request (400: Invalid char in url path)``; a fault in kpitui's own handlers
    keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            said = next((line.strip() for line in str(exc.message).splitlines() if line.strip()), "")
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg, record.args = "refused %s: bad HTTP request (%s: %s)", (remote, exc.code, said.rstrip(":"))
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(message)s", "%H:%M:%S"))
    handler.addFilter(BadRequestsOneLine())
    for name in ("kpitui.serve", "aiohttp", "textual-serve", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO if name not in ("aiohttp", "asyncio") else logging.WARNING)
    logging.getLogger("asyncio").addFilter(OutOfDescriptorsOneLine())
    logging.getLogger("aiohttp.access").setLevel(logging.INFO)


@dataclass
class Session:
    number: int
    who: str
    websocket: web.WebSocketResponse
    started: float
    last_input: float
    closed_for: str = ""


class KpiServer:
    def __init__(self, plan: ServePlan, *, port: int | None = None):
        self.plan = plan
        self.port = plan.port if port is None else port
        self.keys = SessionKeys()
        self.sessions: dict[int, Session] = {}
        self.numbers = itertools.count(1)
        self.downloads = DownloadManager()
        # textual-serve runs the command through a shell; with exec the app is the process it ends
        self.command = ("exec " if os.name != "nt" else "") + shlex.join(plan.app_argv)
        self.pages = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
        self.title = f"kpitui · {plan.config_path.name}"
        self.stopping = False
        self.spare = WarmSpare(lambda: SessionService(self.command, plan.secret_env, self.downloads))
        remember(plan.token)  # masked in every log line from here on

    @functools.cached_property
    def decoy(self) -> str:
        """A password hash no one knows, made like ``--hash-password``'s, checked when the user name is unknown."""
        return hash_password(secrets.token_urlsafe(16))

    @property
    def cookie(self) -> str:
        return f"kpitui_session_{self.port}"  # cookies ignore ports: two servers on one host keep their own

    # -- the aiohttp application ---------------------------------------------------

    def make_app(self) -> web.Application:
        if self.plan.users:
            _ = self.decoy  # made now, so the first unknown name does not take two hashes' time
        app = web.Application(middlewares=[self.guard])
        app.add_routes(
            [
                web.get("/", self.index),
                web.get("/ws", self.websocket),
                web.get("/login", self.login_form),
                web.post("/login", self.login),
                web.get("/logout", self.logout),
                web.static("/static", STATIC, show_index=False),
            ]
        )
        app.on_shutdown.append(self.close_all)
        return app

    def page(self, template: str, status: int, **context: Any) -> web.Response:
        body = self.pages.get_template(template).render(title=self.title, **context)
        return web.Response(text=body, status=status, content_type="text/html", headers={"Cache-Control": "no-store"})

    def message(self, status: int, heading: str, text: str, *, login: bool = False, error: str = "") -> web.Response:
        return self.page(
            "message.html", status, heading=heading, text=text, login=login and bool(self.plan.users), error=error
        )

    @web.middleware
    async def guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response = await self._guarded(request, handler)
        for key, value in HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    async def _guarded(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/login":
            return await handler(request)
        given = request.query.get("token")
        if given is not None:
            if not same_secret(given, self.plan.token):
                log.warning("refused %s: wrong token", request.remote)
                return self.message(
                    403,
                    "Wrong token",
                    "This link's token is not the one this server accepts. Use the link `kpitui serve` printed.",
                    login=True,
                )
            rest = {k: v for k, v in request.query.items() if k != "token"}
            return self.signed_in(request, "token", "./" + (f"?{urlencode(rest)}" if rest else ""))
        request["who"] = self.keys.check(request.cookies.get(self.cookie))
        if request["who"] is not None:
            return await handler(request)
        if request.path == "/ws":
            log.warning("refused %s: websocket without a session", request.remote)
            return web.Response(status=403, text="403: sign in first (the link with ?token=, or /login)\n")
        return self.message(
            401,
            "Sign-in needed",
            (
                "This kpitui dashboard is protected. Open the link `kpitui serve` printed when it started (it ends "
                "in ?token=…)"
            )
            + (", or sign in below." if self.plan.users else "."),
            login=True,
        )

    def signed_in(self, request: web.Request, who: str, location: str) -> web.Response:
        key = self.keys.issue(who)
        response = web.Response(status=303, text="303: See Other", headers={"Location": location})
        secure = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        response.set_cookie(self.cookie, key, httponly=True, samesite="Strict", secure=secure)
        response.headers["Cache-Control"] = "no-store"
        log.info("%s signed in (%s)", request.remote, who)
        return response

    # -- pages --------------------------------------------------------------------------

    def full(self) -> bool:
        return len(self.sessions) >= self.plan.max_sessions

    def limit_page(self) -> web.Response:
        n = self.plan.max_sessions
        return self.message(
            503,
            "All sessions are in use",
            f"This dashboard serves at most {n} browser session{'s' if n != 1 else ''} at once, and {n} are open. "
            "Try again when someone closes theirs (an idle one closes by itself"
            + (f" after {_duration(self.plan.idle_seconds)})." if self.plan.idle_seconds else ")."),
        )

    async def index(self, request: web.Request) -> web.Response:
        if self.full():
            return self.limit_page()
        try:
            font_size = max(6, min(48, int(request.query.get("fontsize", "16"))))
        except ValueError:
            font_size = 16
        idle = _duration(self.plan.idle_seconds) if self.plan.idle_seconds else ""
        return self.page("app_index.html", 200, font_size=font_size, idle=idle)

    async def login_form(self, request: web.Request) -> web.Response:
        if not self.plan.users:
            return self.message(
                404,
                "No users",
                "This server has no [serve.users]; open the link with the token `kpitui serve` printed.",
            )
        return self.message(200, "Sign in", "", login=True)

    async def login(self, request: web.Request) -> web.Response:
        if not self.plan.users:
            return self.message(404, "No users", "This server has no [serve.users].")
        if not self.same_origin(request):  # a form on another site signing this browser in (login CSRF)
            log.warning("refused %s: sign-in posted from another origin", request.remote)
            return self.message(403, "Sign in", "", login=True, error="Sign in from this page, not another site.")
        try:  # a body sent a byte at a time holds its connection no longer than a request's headers may
            form = await asyncio.wait_for(request.post(), REQUEST_SECONDS)
        except asyncio.TimeoutError:
            log.warning("refused %s: sign-in form not sent within %s", request.remote, _duration(REQUEST_SECONDS))
            return self.message(408, "Sign in", "", login=True, error="The form took too long to arrive.")
        name, password = str(form.get("user", "")), str(form.get("password", ""))
        stored = self.plan.users.get(name)
        # an unknown name is checked against a hash of the same work: the answer's time does not tell which exist
        checked = await asyncio.get_running_loop().run_in_executor(
            None, verify_password, stored if stored is not None else self.decoy, password
        )
        ok = stored is not None and checked
        if not ok:
            await asyncio.sleep(1.0)  # slows guessing
            log.warning("refused %s: wrong user name or password", request.remote)
            return self.message(401, "Sign in", "", login=True, error="Wrong user name or password.")
        return self.signed_in(request, f"user {name}", "./")

    async def logout(self, request: web.Request) -> web.Response:
        self.keys.revoke(request.cookies.get(self.cookie))
        response = self.message(
            200, "Signed out", "Open the link with the token, or sign in, to come back.", login=True
        )
        response.del_cookie(self.cookie)
        return response

    # -- sessions ---------------------------------------------------------------------

    def same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser (browsers always send Origin on a websocket)
        try:
            netloc = urlsplit(origin).netloc  # "" for "Origin: null" (a sandboxed frame, a file:// page): refused
        except ValueError:  # "http://[::1": not an origin a browser sends
            return False
        return bool(netloc) and netloc in {request.host, request.headers.get("X-Forwarded-Host") or request.host}

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not self.same_origin(request):
            log.warning("refused %s: websocket from another origin", request.remote)
            return web.Response(status=403, text="403: websocket from another origin\n")
        websocket = web.WebSocketResponse(heartbeat=15, max_msg_size=1 << 20)
        if not websocket.can_prepare(request).ok:  # a plain GET (a reload, a health check): no session to count
            return web.Response(status=400, text="400: this address takes a websocket only; open the page at ./\n")
        if self.full():
            log.warning("refused %s: all %d sessions in use", request.remote, self.plan.max_sessions)
            return web.Response(status=503, text=f"503: all {self.plan.max_sessions} sessions are in use\n")
        width = _clamp(request.query.get("width"), 80)
        height = _clamp(request.query.get("height"), 24)
        now = time.monotonic()
        session = Session(next(self.numbers), request["who"], websocket, now, now)
        self.sessions[session.number] = session  # before any await: the limit cannot be overrun by a burst
        service: SessionService | None = None
        watchdog: asyncio.Task | None = None
        try:
            await websocket.prepare(request)
            service = await self.spare.take(width, height)
            log.info(
                "session %d opened for %s (%s; %d of %d; %s app)", session.number, request.remote, session.who,
                len(self.sessions), self.plan.max_sessions, "warm" if service is not None else "new",
            )  # fmt: skip
            if service is not None:
                await service.attach(websocket, width, height)
            else:
                service = SessionService(
                    self.command, self.plan.secret_env, self.downloads,
                    write_bytes=websocket.send_bytes, write_str=websocket.send_str, close=websocket.close,
                )  # fmt: skip
                await service.start(width, height)
            if self.plan.idle_seconds:
                watchdog = asyncio.create_task(self.close_when_idle(session, self.plan.idle_seconds))
            await self.relay(websocket, service, session)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - one session's failure never stops the server
            log.error("session %d failed: %s: %s", session.number, type(exc).__name__, exc)
        finally:
            try:
                if watchdog is not None:
                    watchdog.cancel()
                if service is not None:
                    await service.stop(timeout=1.0 if self.stopping else STOP_SECONDS)
                if websocket.prepared and not websocket.closed:
                    await websocket.close()
            finally:  # the session stays counted until its app has stopped, and never longer
                self.sessions.pop(session.number, None)
            log.info(
                "session %d closed after %s%s",
                session.number,
                _duration(time.monotonic() - session.started),
                f" ({session.closed_for})" if session.closed_for else "",
            )
        return websocket

    async def relay(self, websocket: web.WebSocketResponse, service: SessionService, session: Session) -> None:
        """The browser's messages to the app (as textual-serve does); keys and resizes count as activity."""
        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                envelope = json.loads(message.data)
            except ValueError:
                continue
            if not isinstance(envelope, list) or not envelope:
                continue  # a message that is not textual-serve's ["kind", data]: ignored, as an unknown kind is
            kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
            if kind == "stdin":
                if not isinstance(data, str):
                    continue
                session.last_input = time.monotonic()
                await service.send_bytes(data.encode("utf-8", "replace"))
            elif kind == "resize":
                if not isinstance(data, dict):
                    continue
                session.last_input = time.monotonic()
                await service.set_terminal_size(_clamp(data.get("width"), 80), _clamp(data.get("height"), 24))
            elif kind == "ping":
                await websocket.send_json(["pong", data])
            elif kind == "blur":
                await service.blur()
            elif kind == "focus":
                await service.focus()

    async def close_when_idle(self, session: Session, idle: float) -> None:
        step = max(0.2, min(5.0, idle / 4))
        while not session.websocket.closed:
            await asyncio.sleep(step)
            if time.monotonic() - session.last_input >= idle:
                session.closed_for = f"idle for {_duration(idle)}"
                await session.websocket.close(code=4000, message=b"idle")
                return

    async def close_all(self, app: web.Application) -> None:
        self.stopping = True
        await self.spare.close()
        for session in list(self.sessions.values()):
            session.closed_for = "server stopping"
            await session.websocket.close(code=1001, message=b"server stopping")


def _clamp(value: Any, default: int) -> int:
    try:
        return max(10, min(1000, int(value)))
    except (TypeError, ValueError, OverflowError):  # OverflowError: a width of 1e999 (JSON's Infinity)
        return default


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def shown_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


async def serve(plan: ServePlan, *, out=None) -> int:
    """Listen until SIGINT/SIGTERM; print the URL (with a generated token) once on ``out``."""
    import signal

    from ...serve_command import start_collector, stop_collector

    out = out or sys.stdout
    setup_logging()
    raise_open_files_limit()
    server = KpiServer(plan)
    app = server.make_app()
    runner = web.AppRunner(
        app,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("aiohttp.access"),
        handle_signals=False,
        keepalive_timeout=REQUEST_SECONDS,  # aiohttp's hour let a slow client hold a descriptor (see REQUEST_SECONDS)
    )
    await runner.setup()
    site = web.TCPSite(runner, plan.host, plan.port, shutdown_timeout=STOP_SECONDS)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        print(f"kpitui: cannot listen on {plan.host}:{plan.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    sockets = getattr(site._server, "sockets", None) or []  # the port actually bound (for --port 0)
    server.port = sockets[0].getsockname()[1] if sockets else plan.port
    collector = start_collector(plan)
    server.spare.refill()
    base = f"http://{shown_host(plan.host)}:{server.port}/"
    mode = "read-only" if not plan.allow_write else "adding readings allowed"
    idle = (
        f"idle sessions close after {_duration(plan.idle_seconds)}" if plan.idle_seconds else "idle sessions stay open"
    )
    print(f"kpitui serve: {plan.config_path.name} on {base} ({mode}; up to {plan.max_sessions} sessions; {idle}"
          + ("; one collector running" if collector else "") + ")", file=out)  # fmt: skip
    if plan.token_generated:
        print(f"open: {base}?token={plan.token}", file=out)
    else:
        print(f"open: {base}?token=… (the token from the environment)", file=out)
    if plan.users:
        print(
            f"or sign in at {base}login ({len(plan.users)} user{'s' if len(plan.users) != 1 else ''} in [serve.users])",
            file=out,
        )
    if not plan.loopback:
        print("note: plain HTTP on a network address: put a TLS reverse proxy in front (README, Browser)", file=out)
    print("Ctrl+C stops", file=out, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    watch = asyncio.create_task(_watch_collector(collector))
    try:
        await stop.wait()
    finally:
        watch.cancel()
        log.info("stopping")
        await runner.cleanup()
        await loop.run_in_executor(None, stop_collector, collector)
    return 0


async def _watch_collector(collector: Any) -> None:
    if collector is None:
        return
    while collector.poll() is None:
        await asyncio.sleep(1.0)
    log.error(
        "the collector (kpitui collect) stopped with exit code %s; sessions keep showing the history",
        collector.returncode,
    )


def run(plan: ServePlan) -> int:
    return asyncio.run(serve(plan))
