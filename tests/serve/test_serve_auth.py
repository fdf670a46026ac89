"""``kpitui serve`` keeps the dashboard to those holding the token (or a [serve.users] login), checked on
the page, the session cookie and the websocket; the token never reaches a log. Real server, real HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys

import aiohttp  # noqa: E402
import pytest

from kpitui.serve_auth import AuthError, check_hash, hash_password, is_loopback, verify_password

from .conftest import OBJECTIVES, Served, client, open_terminal, sign_in, write_config


def kpitui(*args: str, input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "kpitui", *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


async def refused_websocket(served: Served, **kwargs) -> int:
    """The status a websocket handshake gets; fails if the server upgraded it."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"{served.base}ws?width=80&height=24", **kwargs)
        return refused.value.status


@pytest.mark.slow
async def test_the_printed_link_opens_the_dashboard_and_nothing_else_does(config):
    with Served("--config", str(config)) as served:
        assert served.base.startswith("http://127.0.0.1:"), "loopback unless told otherwise"
        assert served.url.startswith(served.base + "?token=") and len(served.token) >= 32
        async with client() as session:
            async with session.get(served.base, allow_redirects=False) as page:
                assert page.status == 401 and "Set-Cookie" not in page.headers
                assert "kpitui serve" in await page.text() and "static/js/textual.js" not in await page.text()
            async with session.get(served.base + "static/js/textual.js") as asset:
                assert asset.status == 401
            async with session.get(served.base + "?token=" + served.token[:-1] + "x", allow_redirects=False) as wrong:
                assert wrong.status == 403 and "Set-Cookie" not in wrong.headers
            assert await refused_websocket(served) == 403
            assert (
                await refused_websocket(
                    served, headers={"Cookie": f"kpitui_session_{served.base.rsplit(':', 1)[1].strip('/')}=forged"}
                )
                == 403
            )

            async with session.get(served.url, allow_redirects=False) as signed:
                assert signed.status == 303
                assert signed.headers["Location"] == "./", "the token leaves the address bar"
                cookie = signed.headers["Set-Cookie"]
                assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and served.token not in cookie
            async with session.get(served.base) as page:
                assert page.status == 200 and "static/js/textual.js" in await page.text()
            terminal = await open_terminal(session, served)
            screen = await terminal.wait_for(OBJECTIVES[0])
            assert "Objectives" in screen
            await terminal.websocket.close()
    assert served.stdout.count(served.token) == 1, "printed once, as the link"
    assert served.token not in served.stderr
    assert '"GET /" 303' in served.stderr and "token=" not in served.stderr, "the access log shows the path only"


async def test_any_other_address_still_needs_the_token(config):
    with Served("--config", str(config), "--host", "0.0.0.0") as served:
        printed = "".join(served.lines)
        assert f"http://{socket.gethostname()}:" in printed and "TLS reverse proxy" in printed
        async with client() as session:
            async with session.get(served.base) as page:
                assert page.status == 401
            assert await refused_websocket(served) == 403
            await sign_in(session, served)
            async with session.get(served.base) as page:
                assert page.status == 200


@pytest.mark.slow
async def test_a_token_from_the_environment_is_never_printed_nor_handed_to_sessions(config):
    secret = "correct-horse-battery-staple-42"
    with Served("--config", str(config), "--token-env", "MY_DASH_TOKEN", env={"MY_DASH_TOKEN": secret}) as served:
        assert secret not in "".join(served.lines)
        async with client() as session:
            async with session.get(f"{served.base}?token={secret}", allow_redirects=False) as signed:
                assert signed.status == 303
            terminal = await open_terminal(session, served)
            await terminal.wait_for(OBJECTIVES[1])
            sessions = [env for _, line, env in served.children() if " tui " in line]
            assert sessions and all("MY_DASH_TOKEN" not in env for env in sessions)
            await terminal.websocket.close()
    assert secret not in served.stdout + served.stderr


async def test_a_websocket_from_another_origin_is_refused(config):
    with Served("--config", str(config)) as served:
        async with client() as session:
            await sign_in(session, served)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"{served.base}ws", headers={"Origin": "http://evil.example"})
            assert refused.value.status == 403
            for origin in ("null", "file://"):  # a sandboxed frame or a local file: no origin to trust
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await session.ws_connect(f"{served.base}ws", headers={"Origin": origin})
                assert refused.value.status == 403, origin


async def test_a_cookie_that_is_not_ascii_is_refused_not_a_server_error(config):
    """Before the fix, once anyone had signed in, ``Cookie: kpitui_session_PORT=é`` was a 500 (a TypeError in
    ``hmac.compare_digest``) with a traceback in the log."""
    with Served("--config", str(config)) as served:
        async with client() as session:
            await sign_in(session, served)
        port = served.base.rsplit(":", 1)[1].strip("/")
        async with aiohttp.ClientSession() as stranger:
            for value in ("\u00e9\u00e9", "\udcff", "x" * 4000):
                async with stranger.get(served.base, headers={"Cookie": f"kpitui_session_{port}={value}"}) as page:
                    assert page.status == 401, value
    assert "Traceback" not in served.stderr


@pytest.mark.slow
async def test_users_sign_in_with_a_hashed_password(tmp_path):
    made = kpitui("serve", "--hash-password", input="s3cret pass\n")
    assert made.returncode == 0, made.stderr
    hashed = made.stdout.strip()
    assert hashed.startswith("scrypt$") and "s3cret" not in hashed
    config = write_config(tmp_path, f'\n[serve.users]\nalice = "{hashed}"\n')
    with Served("--config", str(config)) as served:
        assert "/login" in "".join(served.lines)
        async with client() as session:
            async with session.get(served.base) as page:
                assert page.status == 401 and 'name="password"' in await page.text()
            async with session.post(
                served.base + "login", data={"user": "alice", "password": "wrong"}, allow_redirects=False
            ) as wrong:
                assert wrong.status == 401 and "Set-Cookie" not in wrong.headers
            async with session.post(
                served.base + "login", data={"user": "bob", "password": "s3cret pass"}, allow_redirects=False
            ) as nobody:
                assert nobody.status == 401
            assert await refused_websocket(served) == 403
            async with session.post(
                served.base + "login", data={"user": "alice", "password": "s3cret pass"}, allow_redirects=False
            ) as ok:
                assert ok.status == 303 and "HttpOnly" in ok.headers["Set-Cookie"]
            terminal = await open_terminal(session, served)
            await terminal.wait_for(OBJECTIVES[0])
            await terminal.websocket.close()
    assert "s3cret" not in served.stdout + served.stderr


@pytest.mark.parametrize(
    "extra, args, env, message",
    [
        ('\n[serve]\ntoken = "literally-the-token-in-the-file"\n', [], {}, "${VARIABLE} reference"),
        ('\n[serve]\ntoken = "${KPITUI_TEST_UNSET_TOKEN}"\n', [], {}, "KPITUI_TEST_UNSET_TOKEN is not set"),
        ('\n[serve.users]\nalice = "hunter2-plain-password"\n', [], {}, "--hash-password"),
        ("\n[serve]\ntokn = 1\n", [], {}, "did you mean 'token'"),
        ("", ["--token-env", "KPITUI_TEST_SHORT"], {"KPITUI_TEST_SHORT": "abc"}, "too short"),
        ("", ["--token-env", "KPITUI_TEST_UNSET_TOKEN"], {}, "KPITUI_TEST_UNSET_TOKEN is not set"),
        ("", ["--idle-timeout", "soon"], {}, "--idle-timeout"),
        ("", ["--max-sessions", "0"], {}, "--max-sessions"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(tmp_path, extra, args, env, message):
    config = write_config(tmp_path, extra)
    result = kpitui("serve", "--config", str(config), *args, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        message in result.stderr and len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    )


def test_check_validates_the_serve_table_too(tmp_path):
    config = write_config(tmp_path, '\n[serve.users]\nalice = "plain"\n')
    result = kpitui("check", "--config", str(config))
    assert result.returncode == 2 and "[serve.users]" in result.stderr


def test_a_port_in_use_is_one_line_and_exit_1(config):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = kpitui("serve", "--config", str(config), "--port", str(port))
    assert result.returncode == 1 and "cannot listen on 127.0.0.1" in result.stderr and "Traceback" not in result.stderr


def test_passwords_and_addresses():
    stored = hash_password("pässword")
    assert verify_password(stored, "pässword") and not verify_password(stored, "password")
    assert not verify_password("scrypt$garbage", "x")
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", b"pw", salt, 200_000)
    pbkdf2 = (
        f"pbkdf2_sha256$200000${base64.urlsafe_b64encode(salt).decode().rstrip('=')}"
        f"${base64.urlsafe_b64encode(digest).decode().rstrip('=')}"
    )
    assert verify_password(pbkdf2, "pw") and not verify_password(pbkdf2, "pw2")
    assert check_hash(pbkdf2, "[serve] password_hash") == pbkdf2 and check_hash(stored, "x") == stored
    # a typo's work factor would hang every log-in: refused when the config is read, with the limits named
    salt64, digest64 = pbkdf2.split("$")[2:]
    for endless in (f"pbkdf2_sha256${10**12}${salt64}${digest64}", f"scrypt$16384$8${10**6}${salt64}${digest64}",
                    f"scrypt${2**24}$8$1${salt64}${digest64}"):  # fmt: skip
        with pytest.raises(AuthError, match="10,000,000 iterations"):
            check_hash(endless, "[serve] password_hash")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.3.4.5")
    assert (
        not is_loopback("0.0.0.0")
        and not is_loopback("::")
        and not is_loopback("192.168.1.5")
        and not is_loopback("example.com")
    )


def test_without_the_serve_extra_it_says_what_to_install(config):
    code = (
        "import sys; sys.modules['textual_serve'] = None  # as if the extra were not installed\n"
        f"from kpitui.cli import main; sys.exit(main(['serve', '--config', {str(config)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "pip install 'kpitui[serve]'" in result.stderr and "Traceback" not in result.stderr
