"""The HTTP JSON client of the built-in ``http`` and ``prometheus`` sources.

``get_json`` GETs a URL within the fetch's :class:`Deadline`, retrying
connection errors and 5xx answers. Credentials stay with the server they were
configured for: on a redirect to another origin (scheme, host or port) the
configured headers, ``Authorization``, ``Cookie`` and ``Proxy-Authorization``
are dropped, and a redirect from ``https`` to ``http`` is refused.

The deadline covers the whole exchange (connecting, TLS, headers, the body,
retries): when it passes, or the fetch is cancelled, every socket the
request opened is shut down, so a server that trickles a byte at a time
cannot hold a poll. A body larger than :data:`MAX_RESPONSE_BYTES` is refused
with a clear error, as soon as its length is known or the limit is read.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Mapping, cast

from kpitui.api import Secret, SourceError
from kpitui.options import redact

from ._sourcekit import Deadline, clip, fail, reveal

#: never forwarded to another origin, configured or not (urllib copies every header it was given)
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
DEFAULT_PORTS = {"http": 80, "https": 443}
#: the largest response body read (a Prometheus range answer with many series can be tens of MB)
MAX_RESPONSE_BYTES = 64 * 2**20
#: the most of an error response's body read to describe it
MAX_ERROR_BYTES = 64 * 2**10
READ_CHUNK = 256 * 2**10


class _Sockets:
    """The connections one request opened, to shut them down from another thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fds: list[int] = []  # duplicates: still valid after TLS wraps (and detaches) the socket
        self.aborted = False

    def track(self, make: Any) -> Any:
        def create_connection(*args: Any, **kwargs: Any) -> socket.socket:
            sock: socket.socket = make(*args, **kwargs)
            with self.lock:
                self.fds.append(os.dup(sock.fileno()))
                if self.aborted:
                    self._shutdown(self.fds[-1])
            return sock

        return create_connection

    def connection(self, http_class: Any) -> Any:
        def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            conn = http_class(host, **kwargs)
            conn._create_connection = self.track(conn._create_connection)  # a private hook of http.client
            return cast(http.client.HTTPConnection, conn)

        return make

    @staticmethod
    def _shutdown(fd: int) -> None:
        sock = socket.socket(fileno=fd)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            sock.detach()

    def abort(self) -> None:
        with self.lock:
            self.aborted = True
            for fd in self.fds:
                self._shutdown(fd)

    def close(self) -> None:
        with self.lock:
            for fd in self.fds:
                os.close(fd)
            self.fds.clear()


class _Through(urllib.request.AbstractHTTPHandler):
    """Opens its connections through ``sockets`` (mixed into the HTTP and the HTTPS handler)."""

    def __init__(self, sockets: _Sockets):
        super().__init__()
        self.sockets = sockets

    def do_open(self, http_class: Any, req: urllib.request.Request, **kwargs: Any) -> http.client.HTTPResponse:
        return super().do_open(self.sockets.connection(http_class), req, **kwargs)


class _HTTP(_Through, urllib.request.HTTPHandler):
    pass


class _HTTPS(_Through, urllib.request.HTTPSHandler):
    pass


class HttpStatusError(SourceError):
    """The server answered with an error status (4xx, or 5xx once retries ran out)."""

    def __init__(self, message: str, status: int, body: Any):
        super().__init__(message)
        self.status = status
        self.body = body


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of ``url``, the default port filled in."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but send credentials only to the origin they were configured for."""

    def __init__(self, private: frozenset[str]):
        self.private = private | CREDENTIAL_HEADERS

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        before, after = origin(req.full_url), origin(new.full_url)
        if before[0] == "https" and after[0] != "https":
            raise fail(
                f"refused a redirect from {redact(req.full_url)} to {redact(new.full_url)}: "
                "it would leave https (set the source's url to where the data is)"
            )
        if before != after:
            for name in list(new.headers):
                if name.lower() in self.private:
                    new.remove_header(name)
        return new


def _error_detail(raw: bytes) -> tuple[Any, str]:
    """The parsed body (if JSON) and a short description of an error response."""
    text = raw.decode("utf-8", "replace")
    try:
        body = json.loads(text)
    except ValueError:
        return None, clip(text, 200)
    if isinstance(body, dict):
        for name in ("error", "message", "detail"):
            if isinstance(body.get(name), str):
                return body, clip(body[name], 200)
    return body, clip(text, 200)


def _read_body(response: Any, shown: str) -> bytes:
    """The body, refused past :data:`MAX_RESPONSE_BYTES` (by its Content-Length, or as it arrives)."""
    limit = MAX_RESPONSE_BYTES
    too_big = (
        f"the response from {shown} is larger than {limit // 2**20} MiB, the most a source reads; ask the API for less"
    )
    length = response.headers.get("Content-Length")
    if length and length.strip().isdigit() and int(length) > limit:
        raise fail(too_big)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = response.read1(READ_CHUNK)  # what has arrived (at least a byte), or b"" at the end
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise fail(too_big)
        chunks.append(chunk)


def get_json(
    url: str,
    *,
    headers: Mapping[str, Secret] | None = None,
    deadline: Deadline,
    retries: int = 2,
    backoff: float = 0.5,
) -> Any:
    """GET ``url`` and parse the JSON body.

    Connection errors, timeouts and 5xx answers are retried up to ``retries``
    times, waiting ``backoff * 2**attempt`` seconds, while ``deadline`` allows;
    4xx answers fail at once. Header values are revealed here, for this
    request only, and sent to ``url``'s origin only; every error message goes
    through :func:`redact`.
    """
    request = urllib.request.Request(url, method="GET")
    request.add_header("Accept", "application/json")
    request.add_header("User-Agent", "kpitui")
    for name, value in (headers or {}).items():
        text = reveal(value) if isinstance(value, Secret) else str(value)
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):  # http.client would echo the whole value
            raise fail(f"header {name} holds a control character (a line break or TAB); remove it")
        request.add_header(name, text)
    sockets = _Sockets()
    opener = urllib.request.build_opener(
        _Redirects(frozenset(name.lower() for name in headers or {})), _HTTP(sockets), _HTTPS(sockets)
    )
    shown = redact(url)
    with deadline.watch(sockets.abort):
        try:
            raw, content_type = _exchange(opener, request, shown, deadline, sockets, retries, backoff)
        finally:
            sockets.close()
    try:
        return json.loads(raw)
    except ValueError:
        kind = f" ({content_type})" if content_type else ""
        text = clip(raw.decode("utf-8", "replace"), 120)
        raise fail(f"the response from {shown}{kind} is not JSON: {text!r}") from None


def _exchange(
    opener: urllib.request.OpenerDirector,
    request: urllib.request.Request,
    shown: str,
    deadline: Deadline,
    sockets: _Sockets,
    retries: int,
    backoff: float,
) -> tuple[bytes, str]:
    """The body and content type of a successful answer, retrying as :func:`get_json` says."""
    late = f"no answer from {shown} within {deadline.seconds:g}s (the source's timeout)"
    attempt = 0
    while True:
        status, body = 0, None
        try:
            timeout = deadline.remaining()
            if timeout <= 0:
                raise TimeoutError
            with opener.open(request, timeout=timeout) as response:
                raw = _read_body(response, shown)
                if deadline.expired:  # the socket was shut down under the read: the body may be cut
                    raise TimeoutError
                return raw, response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            try:
                body, detail = _error_detail(exc.read(MAX_ERROR_BYTES) if exc.fp is not None else b"")
            except (OSError, http.client.HTTPException):
                body, detail = None, ""
            status, problem = exc.code, f"HTTP {exc.code} {exc.reason} from {shown}" + (f": {detail}" if detail else "")
            if exc.code < 500:
                raise HttpStatusError(redact(problem), status, body) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                problem = late
            else:
                problem = f"cannot reach {shown}: {exc.reason}"
        except (TimeoutError, socket.timeout):
            problem = late
        except (OSError, http.client.HTTPException) as exc:  # reset, refused, truncated, …
            problem = f"cannot reach {shown}: {exc}"
        if sockets.aborted:  # the deadline shut the connection: whatever broke, the reason is the time
            status, problem = 0, late
        wait = backoff * (2**attempt)
        if attempt >= retries or deadline.remaining() <= wait:
            if attempt:
                problem += f" (after {attempt + 1} attempts)"
            if status:
                raise HttpStatusError(redact(problem), status, body) from None
            raise fail(problem) from None
        attempt += 1
        deadline.cancelled.wait(wait)
