"""A secret the config references is masked from the moment the config is read, not only once it is revealed.

Before the fix ``kpitui alerts test cmd`` printed ``cmd: FAILED: /bin/sh exited with status 1: <the token>``:
the command notifier's stderr held the value of ``${HOOK_TOKEN}`` (its shell inherits the environment), and
that token was masked only after the webhook notifier that references it had sent something in this process.
"""

from __future__ import annotations

import contextlib
import io
import secrets

from kpitui import cli


def test_a_referenced_secret_is_masked_before_anything_reveals_it(tmp_path, monkeypatch):
    token = "tok-" + secrets.token_urlsafe(24)
    monkeypatch.setenv("HOOK_TOKEN", token)
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[metrics.m]\n'
        '[notifiers.hook]\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook/${HOOK_TOKEN}"\n'
        '[notifiers.cmd]\ntype = "command"\ncommand = "echo token is $HOOK_TOKEN >&2; exit 1"\n'
        '[alerts.a]\nmetric = "m"\nwhen = "failing"\nnotify = ["hook", "cmd"]\n',
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["alerts", "test", "cmd", "--config", str(config)])
    shown = out.getvalue() + err.getvalue()
    assert code == 1 and "token is ***" in shown, shown
    assert token not in shown
