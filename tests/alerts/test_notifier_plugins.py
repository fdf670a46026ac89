"""The register_notifiers hook: a plugin's notifier is listed, configured, isolated and delivers."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass

import kpitui
from kpitui.api import Notification, Notifier
from kpitui.config import ConfigError, load_config
from kpitui.plugins import load_registry

from .conftest import run


@dataclass(frozen=True)
class FileOptions:
    path: str


class FileNotifier(Notifier):
    type_name = "to_file"
    description = "append notifications to a file"
    Options = FileOptions

    def send(self, notification: Notification) -> None:
        with open(self.context.path(self.options.path), "a", encoding="utf-8") as out:
            out.write(json.dumps(notification.as_dict()) + "\n")


class Plugin:
    @kpitui.hookimpl
    def register_notifiers(self):
        return [FileNotifier]


class Broken:
    @kpitui.hookimpl
    def register_notifiers(self):
        raise RuntimeError("boom")


class NotAType:
    @kpitui.hookimpl
    def register_notifiers(self):
        return [FileNotifier, "webhook", Notifier]


def test_a_plugin_notifier_is_registered_beside_the_builtins():
    registry = load_registry(load_installed=False, extra=[Plugin()])
    assert {"webhook", "command", "email", "apprise", "to_file"} <= set(registry.notifiers)
    assert registry.owner("notifier", "to_file") == "Plugin"
    assert registry.owner("notifier", "webhook") == "builtin:notifiers"
    info = next(p for p in registry.plugins if p.name == "Plugin")
    assert info.notifiers == ["to_file"] and info.ok


def test_a_failing_hook_is_reported_and_the_others_keep_working():
    registry = load_registry(load_installed=False, extra=[Broken(), NotAType()])
    errors = "\n".join(registry.errors)
    assert "plugin Broken: register_notifiers raised RuntimeError: boom" in errors
    assert "'webhook'" in errors and "not a subclass of kpitui.api.Notifier" in errors
    assert "type_name must be a non-empty identifier" in errors
    assert "webhook" in registry.notifiers and "to_file" in registry.notifiers


def test_the_plugin_notifier_delivers_a_test_through_the_cli(tmp_path):
    plugdir = tmp_path / "plugs"
    plugdir.mkdir()
    (plugdir / "filenote.py").write_text(
        textwrap.dedent(
            """
            import json
            from dataclasses import dataclass
            import kpitui
            from kpitui.api import Notifier

            @dataclass(frozen=True)
            class Options:
                path: str

            class FileNotifier(Notifier):
                type_name = "to_file"
                description = "append notifications to a file"
                Options = Options

                def send(self, notification):
                    with open(self.context.path(self.options.path), "a") as out:
                        out.write(json.dumps(notification.as_dict()) + "\\n")

            @kpitui.hookimpl
            def register_notifiers():
                return [FileNotifier]
            """
        )
    )
    config = tmp_path / "kpitui.toml"
    config.write_text(
        textwrap.dedent(
            f'''
            [storage]
            path = "{tmp_path / "h.sqlite3"}"
            [plugins]
            dirs = ["plugs"]
            [notifiers.log]
            type = "to_file"
            path = "sent.jsonl"
            '''
        )
    )
    listed = run("plugins", "--config", str(config))
    assert "notifier to_file" in listed.stdout
    result = run("alerts", "test", "log", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "log: sent"
    (sent,) = [json.loads(line) for line in (tmp_path / "sent.jsonl").read_text().splitlines()]
    assert sent["kind"] == "test" and sent["alert"] == "log"


def test_config_errors_name_the_table_and_suggest(tmp_path, write_config):
    def error(text: str) -> str:
        try:
            load_config(write_config(text))
        except ConfigError as exc:
            return str(exc)
        raise AssertionError("config was accepted")

    base = '[notifiers.team]\ntype = "webhook"\nurl = "https://example.com/x"\n[metrics.signups]\nsource = "manual"\n'
    assert "[notifiers.chat] type: unknown notifier type 'webhok' (did you mean 'webhook'?)" in error(
        '[notifiers.chat]\ntype = "webhok"\nurl = "x"\n'
    )
    assert "[notifiers.chat] unknown key 'urll' (did you mean 'url'?)" in error(
        '[notifiers.chat]\ntype = "webhook"\nurll = "https://x"\n'
    )
    assert "[alerts.a] notify[0]: unknown notifier 'tema' (did you mean 'team'?)" in error(
        base + '[alerts.a]\nmetric = "signups"\nwhen = "silent"\nnotify = ["tema"]\n'
    )
    assert "[alerts.a] when: unknown rule 'silnet' (did you mean 'silent'?)" in error(
        base + '[alerts.a]\nmetric = "signups"\nwhen = "silnet"\nnotify = ["team"]\n'
    )
    assert "[alerts.a] metric: unknown metric 'signup' (did you mean 'signups'?)" in error(
        base + '[alerts.a]\nmetric = "signup"\nwhen = "silent"\nnotify = ["team"]\n'
    )
    assert "[alerts.a] when = 'status_worse' watches a KPI's status" in error(
        base + '[alerts.a]\nmetric = "signups"\nwhen = "status_worse"\nnotify = ["team"]\n'
    )
    assert "[alerts.a] when:" in error(base + '[alerts.a]\nmetric = "signups"\nwhen = "value <"\nnotify = ["team"]\n')
    assert "[alerts.a] unknown key 'notfy' (did you mean 'notify'?)" in error(
        base + '[alerts.a]\nmetric = "signups"\nwhen = "silent"\nnotfy = ["team"]\n'
    )
    assert "[digests.d] schedule: unknown weekday 'mondya' (did you mean 'monday'?)" in error(
        base + '[digests.d]\nschedule = "weekly mondya 08:00"\nnotify = ["team"]\n'
    )
    assert "[digests.d] schedule: '25:00' is not a time of day" in error(
        base + '[digests.d]\nschedule = "daily 25:00"\nnotify = ["team"]\n'
    )
    assert "unknown table [alert] (did you mean [alerts]?)" in error("[alert.a]\nx = 1\n")
    assert "[notifiers.team] quiet_hours must look like '22:00-07:00'" in error(
        base.replace('url = "https://example.com/x"', 'url = "https://example.com/x"\nquiet_hours = "late"')
    )


def test_apprise_without_the_extra_is_a_clear_config_error(write_config):
    import subprocess
    import sys

    path = write_config('[notifiers.phone]\ntype = "apprise"\nurl = "${APPRISE_URL}"\n')
    code = (
        "import sys; sys.modules['apprise'] = None  # as if the extra were not installed\n"
        "from kpitui.cli import main\n"
        f"sys.exit(main(['check', '--config', {str(path)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert (
        "[notifiers.phone] the apprise notifier needs the Apprise library: pip install 'kpitui[apprise]'"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_init_shows_an_alerts_example_that_loads_when_uncommented(tmp_path):
    import importlib.util

    target = tmp_path / "kpitui.toml"
    assert run("init", str(target)).returncode == 0
    text = target.read_text()
    assert "# [notifiers.team]" in text and '# type = "webhook"' in text and "# [alerts.signup_trigger_silent]" in text
    assert run("check", "--config", str(target)).returncode == 0  # commented out: the starter works as it is
    head, block = text.split("# --- alerts", 1)
    lines = []
    for line in block.splitlines()[3:]:  # after the block's own three comment lines
        lines.append(line[2:] if line.startswith("# ") else ("" if line == "#" else line))
    uncommented = head + "\n".join(lines) + "\n"
    if importlib.util.find_spec("apprise") is None:  # the apprise example needs the extra
        uncommented = uncommented.replace('[notifiers.my_apprise]\ntype = "apprise"\nurl = "${APPRISE_URL}"', "")
    target.write_text(uncommented)
    checked = run("check", "--config", str(target))
    assert checked.returncode == 0, checked.stderr
