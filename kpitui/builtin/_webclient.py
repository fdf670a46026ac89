"""The HTTP JSON client of the built-in ``http`` and ``prometheus`` sources.

``get_json`` GETs a URL within the fetch's :class:`Deadline`, retrying
connection errors and 5xx answers. Credentials stay with the server they were
configured for: on a redirect to another origin (scheme, host or port) the
configured headers, ``Authorization``, ``Cookie`` and ``Proxy-Authorization``
are dropped, and a redirect from ``https`` to ``http`` is refused.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Mapping

from kpitui.api import Secret, SourceError
from kpitui.options import redact

from ._sourcekit import Deadline, clip, fail, reveal

#: never forwarded to another origin, configured or not (urllib copies every header it was given)
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
DEFAULT_PORTS = {"http": 80, "https": 443}


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

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 - urllib's signature
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
    opener = urllib.request.build_opener(_Redirects(frozenset(name.lower() for name in headers or {})))
    shown = redact(url)
    attempt = 0
    while True:
        status, body = 0, None
        try:
            timeout = deadline.remaining()
            if timeout <= 0:
                raise TimeoutError
            with opener.open(request, timeout=timeout) as response:
                raw = response.read()
                content_type = response.headers.get("Content-Type", "")
            break
        except urllib.error.HTTPError as exc:
            body, detail = _error_detail(exc.read() if exc.fp is not None else b"")
            status, problem = exc.code, f"HTTP {exc.code} {exc.reason} from {shown}" + (f": {detail}" if detail else "")
            if exc.code < 500:
                raise HttpStatusError(redact(problem), status, body) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                problem = f"no answer from {shown} within {deadline.seconds:g}s (the source's timeout)"
            else:
                problem = f"cannot reach {shown}: {exc.reason}"
        except (TimeoutError, socket.timeout):
            problem = f"no answer from {shown} within {deadline.seconds:g}s (the source's timeout)"
        except (OSError, http.client.HTTPException) as exc:  # reset, refused, truncated, …
            problem = f"cannot reach {shown}: {exc}"
        wait = backoff * (2**attempt)
        if attempt >= retries or deadline.remaining() <= wait:
            if attempt:
                problem += f" (after {attempt + 1} attempts)"
            if status:
                raise HttpStatusError(redact(problem), status, body) from None
            raise fail(problem) from None
        attempt += 1
        time.sleep(wait)
    try:
        return json.loads(raw)
    except ValueError:
        kind = f" ({content_type})" if content_type else ""
        text = clip(raw.decode("utf-8", "replace"), 120)
        raise fail(f"the response from {shown}{kind} is not JSON: {text!r}") from None
