"""The ``command`` source with real subprocesses: output parsing, exit codes, timeouts, stderr."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

import pytest

from kpitui.api import READINGS_SCHEMA, OptionError, SourceError
from kpitui.builtin import command as command_module
from kpitui.builtin.command import CommandSource

NOW = dt.datetime(2024, 3, 5, 14, 37, 12, tzinfo=dt.timezone.utc)
HOUR = dt.datetime(2024, 3, 5, 14, tzinfo=dt.timezone.utc)


def readings(result) -> dict[tuple[str, dt.datetime], float]:
    assert dict(result.readings.schema) == READINGS_SCHEMA
    return {(m, at): v for m, at, v in result.readings.iter_rows()}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_registers_through_the_hook():
    assert command_module.register_metric_sources() == [CommandSource]
    assert CommandSource.type_name == "command" and CommandSource.mode == "replace"


def test_first_number_json_path_argv_and_shell(tmp_path, make_source):
    (tmp_path / "members.txt").write_text("ann\nbob\ncy\n")
    source = make_source(
        CommandSource,
        {},
        {
            "members": {"command": "wc -l < members.txt"},  # runs in the config folder, through /bin/sh
            "active": {"command": "echo 'active users: -12.5e1 (of 300)'"},
            "json": {
                "argv": [sys.executable, "-c", 'print(\'{"data": {"n": [1, "2.5"]}}\')'],
                "json_path": "data.n[1]",
            },
            "daily": {"argv": ["printf", "7"], "bucket": "day"},
        },
    )
    assert readings(source.fetch(None, NOW)) == {
        ("members", HOUR): 3.0,
        ("active", HOUR): -125.0,
        ("json", HOUR): 2.5,
        ("daily", dt.datetime(2024, 3, 5, tzinfo=dt.timezone.utc)): 7.0,
    }


def test_cwd_and_secret_environment(tmp_path, make_source, monkeypatch):
    (tmp_path / "scripts").mkdir()
    monkeypatch.setenv("KPITUI_TEST_SHOP_TOKEN", "s3cr3t-token")
    options = {"cwd": "scripts", "env": {"TOKEN": "${KPITUI_TEST_SHOP_TOKEN}"}}
    length = {"command": 'test "$(basename "$PWD")" = scripts && printf %s "$TOKEN" | wc -c'}
    source = make_source(CommandSource, options, {"length": length})
    assert "s3cr3t-token" not in repr(source.options)
    assert readings(source.fetch(None, NOW)) == {("length", HOUR): 12.0}

    leaky = make_source(CommandSource, options, {"leak": {"command": 'echo "bad token $TOKEN" >&2; exit 1'}})
    with pytest.raises(
        SourceError, match=r"metric leak: command exited with code 1; stderr:\nbad token \*\*\*"
    ) as caught:
        leaky.fetch(None, NOW)
    assert "s3cr3t-token" not in str(caught.value)


def test_an_unset_secret_variable_fails_the_fetch(make_source):
    source = make_source(
        CommandSource, {"env": {"TOKEN": "${KPITUI_TEST_UNSET_VARIABLE}"}}, {"m": {"command": "echo 1"}}
    )
    with pytest.raises(SourceError, match="environment variable KPITUI_TEST_UNSET_VARIABLE is not set"):
        source.fetch(None, NOW)


def test_non_zero_exit_reports_the_code_and_the_last_lines_of_stderr(make_source):
    script = 'for i in $(seq 1 20); do echo "line $i" >&2; done; echo 5; exit 3'
    source = make_source(CommandSource, {}, {"m": {"command": script}})
    with pytest.raises(SourceError) as caught:
        source.fetch(None, NOW)
    message = str(caught.value)
    assert message.startswith("metric m: command exited with code 3; stderr:\n")
    assert message.endswith("line 16\nline 17\nline 18\nline 19\nline 20")
    assert "line 15" not in message


def test_killed_by_a_signal(make_source):
    source = make_source(CommandSource, {}, {"m": {"command": "kill -9 $$"}})
    with pytest.raises(SourceError, match="command was killed by SIGKILL"):
        source.fetch(None, NOW)


def test_timeout_kills_the_whole_process_group(tmp_path, make_source):
    pidfile = tmp_path / "child.pid"
    # the shell starts a grandchild that would outlive a plain kill of the shell
    command = f"sleep 60 & echo $! > {pidfile}; wait"
    source = make_source(CommandSource, {}, {"slow": {"command": command}}, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"metric slow: timed out after 0.5s .*process group was killed"):
        source.fetch(None, NOW)
    assert time.monotonic() - started < 3
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(child)


def test_the_timeout_bounds_the_whole_poll(make_source):
    source = make_source(
        CommandSource, {}, {"a": {"command": "sleep 0.4; echo 1"}, "b": {"command": "sleep 0.4; echo 2"}}, timeout=0.6
    )
    started = time.monotonic()
    with pytest.raises(SourceError, match="metric b: timed out after 0.6s"):
        source.fetch(None, NOW)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ({"command": "echo no digits here"}, "no number in the output: 'no digits here'"),
        ({"command": "echo '{oops'", "json_path": "a"}, "the output is not JSON: '{oops'"),
        ({"command": "echo '{\"a\": {}}'", "json_path": "a.b"}, "the output: path 'a.b': a has no key 'b'"),
        ({"command": 'echo \'{"a": "x"}\'', "json_path": "a"}, "the value at 'a' is the string 'x', not a number"),
        ({"argv": ["/nonexistent/kpitui-probe"]}, "program not found: '/nonexistent/kpitui-probe'"),
        ({"command": "exit 2"}, r"command exited with code 2 \(nothing on stderr\)"),
    ],
)
def test_bad_output_and_failures_are_clear(make_source, metric, message):
    source = make_source(CommandSource, {}, {"m": metric})
    with pytest.raises(SourceError, match="metric m: " + message):
        source.fetch(None, NOW)


def test_missing_cwd(make_source):
    source = make_source(CommandSource, {"cwd": "nope"}, {"m": {"command": "echo 1"}})
    with pytest.raises(SourceError, match="cwd .*nope' is not a folder"):
        source.fetch(None, NOW)


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ({}, "set either command"),
        ({"command": "echo 1", "argv": ["echo", "1"]}, "set either command"),
        ({"command": "  "}, "command must not be empty"),
        ({"argv": []}, "argv must start with the program"),
        ({"command": "echo 1", "json_path": "a..b"}, "json_path 'a..b' is not a JSON path"),
        ({"argv": "echo 1"}, "argv must be a list of a string"),
    ],
)
def test_bad_options_are_rejected_at_load(make_source, metric, message):
    with pytest.raises(OptionError, match=message):
        make_source(CommandSource, {}, {"m": metric})


def test_example_tables_are_valid(tmp_path, make_source):
    example = CommandSource.example()
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "members.txt").write_text("a\nb\n")
    source = make_source(CommandSource, example["source"], {"m": example["metric"]})
    assert readings(source.fetch(None, NOW)) == {("m", HOUR): 2.0}
