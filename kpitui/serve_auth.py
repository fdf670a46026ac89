"""Who may see a served dashboard (``kpitui serve``): tokens, hashed passwords, browser sessions.

Headless and small on purpose: the web server (:mod:`kpitui.ui.serve`) asks
these questions and never stores a secret in a form that could be replayed
from a log.

- A **token** is generated at start (``secrets.token_urlsafe``) unless one is
  given through ``--token-env VAR`` or ``[serve] token = "${VAR}"``. It is
  compared in constant time.
- **Users** (optional, ``[serve.users]``) hold password hashes made by
  ``kpitui serve --hash-password``: ``scrypt$N$r$p$salt$hash`` (default) or
  ``pbkdf2_sha256$iterations$salt$hash``, salt and hash in URL-safe base64.
- A **session key** is what the browser's cookie holds once the token or a
  password was accepted: random, known only to this server process, expiring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

#: a token or session key shorter than this is refused (guessable)
MIN_TOKEN_LENGTH = 16
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
PBKDF2_MIN_ITERATIONS = 100_000
#: the most work a hash may ask of each log-in (a typo's 10**12 iterations or scrypt p would hang every one of them;
#: OWASP's advice is 600,000 iterations and scrypt N=2**17, r=8, p=1)
PBKDF2_MAX_ITERATIONS = 10_000_000
SCRYPT_MAX_P = 16


class AuthError(ValueError):
    """A token or a password hash that cannot be used; the message says why (never the value)."""


def generate_token() -> str:
    return secrets.token_urlsafe(32)


def check_token(token: str, where: str) -> str:
    if len(token) < MIN_TOKEN_LENGTH:
        raise AuthError(f"{where}: the token is too short ({len(token)} characters; at least {MIN_TOKEN_LENGTH})")
    if any(not ch.isprintable() or ch.isspace() for ch in token):
        raise AuthError(f"{where}: the token holds a space or a control character")
    return token


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison (``hmac.compare_digest``); ``None`` never matches."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: reachable from this machine only."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# -- passwords ------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` for ``[serve.users]``."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, maxmem=64 * 2**20, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def check_hash(stored: str, where: str) -> str:
    """Refuse a value that is not a hash this module can verify (a plain password pasted in, say)."""
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = (int(x) for x in parts[1:4])
            if n < 2**14 or n & (n - 1) or r < 1 or p < 1 or p > SCRYPT_MAX_P or 128 * n * r > 256 * 2**20:
                raise ValueError
            if len(_unb64(parts[4])) < 8 or len(_unb64(parts[5])) < 16:
                raise ValueError
            return stored
        if parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            if (
                not PBKDF2_MIN_ITERATIONS <= int(parts[1]) <= PBKDF2_MAX_ITERATIONS
                or len(_unb64(parts[2])) < 8
                or len(_unb64(parts[3])) < 16
            ):
                raise ValueError
            return stored
    except (ValueError, TypeError):
        pass
    raise AuthError(
        f"{where}: not a password hash kpitui can check (expected scrypt$N$r$p$salt$hash or "
        f"pbkdf2_sha256$iterations$salt$hash; scrypt N from 16384 with 128*N*r at most 256 MiB and p at most "
        f"{SCRYPT_MAX_P}, or {PBKDF2_MIN_ITERATIONS:,} to {PBKDF2_MAX_ITERATIONS:,} iterations); "
        "make one with `kpitui serve --hash-password`"
    )


def verify_password(stored: str, password: str) -> bool:
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt":
            n, r, p = (int(x) for x in parts[1:4])
            salt, expected = _unb64(parts[4]), _unb64(parts[5])
            digest = hashlib.scrypt(
                password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=256 * 2**20
            )
        elif parts[0] == "pbkdf2_sha256":
            salt, expected = _unb64(parts[2]), _unb64(parts[3])
            digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, int(parts[1]), dklen=len(expected))
        else:
            return False
    except (ValueError, IndexError, MemoryError):
        return False
    return hmac.compare_digest(digest, expected)


# -- [serve] in the config ------------------------------------------------------


@dataclass(frozen=True)
class ServeConfig:
    """``[serve]``: ``token = "${ENV}"`` (a Secret, revealed when serving starts) and ``[serve.users]`` name -> hash."""

    token: Any = None  # kpitui.options.Secret or None
    users: dict[str, str] = field(default_factory=dict)


def load_serve_table(loader: Any, table: dict[str, Any]) -> ServeConfig:
    """Validate ``[serve]`` for :mod:`kpitui.config` (``loader`` gives its errors, which name file, table and key)."""
    from .config_tables import ServeTable
    from .options import Secret

    parsed = loader.parse_table("serve", ServeTable, table)
    token = None
    if parsed.token is not None:
        token = Secret(parsed.token)
        if not token.references:
            raise loader.error(
                "serve",
                'token: give it as a ${VARIABLE} reference (token = "${KPITUI_SERVE_TOKEN}"), never the token '
                "itself in the file",
            )
    users: dict[str, str] = {}
    raw_users = parsed.users
    if not isinstance(raw_users, dict):
        raise loader.error("serve", "users: expected a table of user name = password hash ([serve.users])")
    for name, stored in raw_users.items():
        if not isinstance(stored, str):
            raise loader.error("serve.users", f"{name}: expected a password hash string")
        try:
            users[name] = check_hash(stored, name)
        except AuthError as exc:
            raise loader.error("serve.users", str(exc)) from None
    return ServeConfig(token=token, users=users)


# -- browser sessions -------------------------------------------------------------


class SessionKeys:
    """Cookie values this server issued, each valid for ``lifetime`` seconds after its last use."""

    def __init__(self, lifetime: float = 12 * 3600, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._keys: dict[str, tuple[float, str]] = {}  # key -> (last use, who)
        self._lock = threading.Lock()

    def issue(self, who: str) -> str:
        key = secrets.token_urlsafe(32)
        with self._lock:
            self._keys[key] = (self.clock(), who)
        return key

    def check(self, key: str | None) -> str | None:
        """Who the key belongs to (and the key's life renewed), or None."""
        if not key:
            return None
        now = self.clock()
        with self._lock:
            for old in [k for k, (used, _) in self._keys.items() if now - used > self.lifetime]:
                del self._keys[old]
            given = key.encode("utf-8", "surrogateescape")  # any cookie a client sends: compare_digest takes
            # str only when it is ASCII, and a TypeError here was a 500 for a cookie such as "é"
            found = next((k for k in self._keys if hmac.compare_digest(k.encode("ascii"), given)), None)
            if found is None:
                return None
            who = self._keys[found][1]
            self._keys[found] = (now, who)
            return who

    def revoke(self, key: str | None) -> None:
        with self._lock:
            self._keys.pop(key or "", None)
