"""Secrets in every form: control characters, escapes, URL encoding, base64, bytes (issue 19, item 2).

A token file saved with Windows line endings gives ``TOKEN=$'TOPSECRET123\\r'``;
used in ``Authorization = "Bearer ${TOKEN}"`` it made ``http.client`` raise
``Invalid header value b'Bearer TOPSECRET123\\r'``, which reached stderr, the
history file, the report and the TUI. Now such a value is refused with an
error naming the variable, and every form of a revealed secret is masked:
raw, ``repr``, escaped, JSON, URL-encoded, base64 (Basic auth, at any
alignment), bytes and hex, in any case.

The leak detector here is independent of kpitui's masking: it URL-decodes,
unescapes, base64- and hex-decodes every run of the text it searches, and a
leak is any 8-character run of a secret (case-insensitive) in any decoding.
"""

from __future__ import annotations

import base64
import codecs
import json
import random
import re
import threading
import urllib.parse
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kpitui.options import OptionError, Secret
from kpitui.secrets import redact

from .conftest import kpitui_env, run_kpitui

CORES = {
    "KPITUI_CRLF_TOKEN": "TOPSECRET123crlf9f3a",
    "KPITUI_LF_TOKEN": "LFSECRET456e2b7c1d0a",
    "KPITUI_NL_TOKEN": "MIDSECRET789a1c3e5",
    "KPITUI_TAB_KEY": "TABSECRETkey0b1d2f3",
    "KPITUI_CMD_TOKEN": "CMDSECRET4d5e6f7a8b",
    "KPITUI_FORMS_TOKEN": "Fö+r/mS=SECRET&7c8d 9e'\"x\\y",
}
VALUES = {
    "KPITUI_CRLF_TOKEN": CORES["KPITUI_CRLF_TOKEN"] + "\r",  # TOKEN=$'TOPSECRET123\r'
    "KPITUI_LF_TOKEN": CORES["KPITUI_LF_TOKEN"] + "\n",
    "KPITUI_NL_TOKEN": "MIDSECRET789\nX-Injected: a1c3e5",
    "KPITUI_TAB_KEY": "TABSECRET\tkey0b1d2f3",
    "KPITUI_CMD_TOKEN": CORES["KPITUI_CMD_TOKEN"] + "\r\n",
    "KPITUI_FORMS_TOKEN": CORES["KPITUI_FORMS_TOKEN"],
}


# -- an independent leak detector ------------------------------------------------------------------


def decodings(text: str) -> list[str]:
    """``text`` and every decoding of it (or of its runs) an attacker could apply."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # unicode_escape on text with stray backslashes
        return _decodings(text)


def _decodings(text: str) -> list[str]:
    out = [text, urllib.parse.unquote(text), urllib.parse.unquote_plus(text)]
    for source in list(out):
        try:
            out.append(codecs.decode(source.encode("latin-1", "backslashreplace"), "unicode_escape"))
            out.append(
                codecs.decode(
                    codecs.decode(source.encode("latin-1", "backslashreplace"), "unicode_escape").encode(
                        "latin-1", "backslashreplace"
                    ),
                    "unicode_escape",
                )
            )
        except (UnicodeDecodeError, ValueError):
            pass
        try:
            out.append(
                source.encode("latin-1", "ignore")
                .decode("unicode_escape")
                .encode("latin-1", "ignore")
                .decode("utf-8", "ignore")
            )
        except (UnicodeDecodeError, ValueError):
            pass
    for run in re.findall(r"[A-Za-z0-9+/_\-=]{8,}", text):
        run = run.replace("-", "+").replace("_", "/").rstrip("=")
        for skip in range(4):
            chunk = run[skip:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            try:
                out.append(base64.b64decode(chunk).decode("utf-8", "ignore"))
            except ValueError:
                pass
    for run in re.findall(r"[0-9a-fA-F]{16,}", text):
        for skip in range(2):
            chunk = run[skip:]
            out.append(bytes.fromhex(chunk[: len(chunk) - len(chunk) % 2]).decode("utf-8", "ignore"))
    return out


def leaks(text: str, cores: dict[str, str] = CORES, run: int = 8) -> list[str]:
    """Every secret (by variable name) of which an ``run``-character piece shows in some decoding of ``text``."""
    found = []
    lowered = [d.lower() for d in decodings(text)]
    for name, core in cores.items():
        pieces = {core[i : i + run].lower() for i in range(len(core) - run + 1)}
        if any(piece in d for d in lowered for piece in pieces):
            found.append(name)
    return found


def representations(value: str) -> dict[str, str]:
    """How a secret shows up in the error messages of libraries and plugins."""
    data = value.encode()
    return {
        "raw": value,
        "upper": value.upper(),
        "repr": repr(value),
        "repr_of_repr": repr(repr(value)),
        "bytes": str(data),
        "bytes_of_header": repr(f"Bearer {value}".encode()),
        "escaped": value.encode("unicode_escape").decode(),
        "json": json.dumps({"token": value}),
        "json_ascii": json.dumps(value, ensure_ascii=True),
        "url": urllib.parse.quote(value, safe=""),
        "url_lower": re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote(value, safe="")),
        "url_plus": urllib.parse.urlencode({"key": value}),
        "basic": "Authorization: Basic " + base64.b64encode(f"user:{value}".encode()).decode(),
        "basic_aligned_1": base64.b64encode(f"u:{value}".encode()).decode(),
        "basic_aligned_2": base64.b64encode(f"{value}".encode()).decode(),
        "base64_urlsafe": base64.urlsafe_b64encode(f"ab:{value}:cd".encode()).decode(),
        "hex": data.hex(),
        "bytearray": repr(bytearray(data)),
    }


def test_the_leak_detector_finds_every_representation():
    """The detector must see through each form, or the tests below prove nothing."""
    for name, form in representations(CORES["KPITUI_FORMS_TOKEN"]).items():
        assert leaks(f"error: {form} (end)") == ["KPITUI_FORMS_TOKEN"], name


# -- masking, probed with many secrets ---------------------------------------------------------------


def test_every_representation_of_many_secrets_is_masked(figures):
    """Random secrets (ASCII, punctuation, quotes, backslashes, non-ASCII) in each form, at random offsets."""
    rng = random.Random(19)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=&%?#:;@!$'\"\\ éßΩ€中-_."
    probed = messages = 0
    for i in range(200):
        core = "".join(rng.choice(alphabet) for _ in range(rng.randint(10, 40)))
        name = f"KPITUI_PROBE_{i}"
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(name, core)
            assert Secret(f"Bearer ${{{name}}}").reveal() == f"Bearer {core}"
        probed += 1
        for form_name, form in representations(core).items():
            prefix = "".join(rng.choice("xyz:= ") for _ in range(rng.randint(0, 5)))
            message = redact(f"failed: {prefix}{form} after {prefix}")
            messages += 1
            assert not leaks(message, {name: core}), (form_name, core, message)
    figures(secrets_probed=probed, representations=len(representations("x" * 10)), messages_masked=messages)


@pytest.mark.parametrize(
    "name, value, said",
    [
        ("KPITUI_CRLF_TOKEN", VALUES["KPITUI_CRLF_TOKEN"], "ends with a carriage return"),
        ("KPITUI_LF_TOKEN", VALUES["KPITUI_LF_TOKEN"], "ends with a line feed"),
        ("KPITUI_NL_TOKEN", VALUES["KPITUI_NL_TOKEN"], "contains a line feed"),
        ("KPITUI_TAB_KEY", VALUES["KPITUI_TAB_KEY"], "contains a TAB"),
        ("KPITUI_ESC", "ESCSECRET\x1b[2Jabcdef", "contains an ESC"),
    ],
)
def test_a_secret_with_a_control_character_is_refused_by_name(monkeypatch, name, value, said):
    monkeypatch.setenv(name, value)
    with pytest.raises(OptionError) as info:
        Secret(f"Bearer ${{{name}}}").reveal()
    message = str(info.value)
    assert name in message and said in message, message
    assert not leaks(message, {name: value.split("\x1b")[0][:9] + value[-6:]}), message
    assert not any(piece in message for piece in value.split())


def test_a_command_may_get_a_multi_line_secret_but_not_one_ending_with_a_line_break(monkeypatch):
    monkeypatch.setenv("KPITUI_PEM", "-----BEGIN KEY-----\nabcdef0123456789\n-----END KEY-----")
    assert Secret("${KPITUI_PEM}").reveal(multiline=True).count("\n") == 2
    monkeypatch.setenv("KPITUI_PEM", "abcdef0123456789\n")
    with pytest.raises(OptionError, match="KPITUI_PEM ends with a line feed"):
        Secret("${KPITUI_PEM}").reveal(multiline=True)


# -- every sink, end to end ------------------------------------------------------------------------------


class Echo(BaseHTTPRequestHandler):
    """Repeats whatever it was sent (header and URL) in a 401 body, as careless APIs do."""

    def do_GET(self):  # noqa: N802
        data = json.dumps({"error": f"bad credentials {self.headers.get('Authorization')!r} for {self.path}"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


PLUGIN = """
import base64, json, urllib.parse
from dataclasses import dataclass
import kpitui
from kpitui.api import MetricSource, Secret

FORMS = %s


@dataclass(frozen=True)
class Options:
    token: Secret
    form: str


class Forms(MetricSource):
    type_name = "forms"
    description = "Raises with its token in one form."
    Options = Options

    def fetch(self, cursor, now):
        value = self.options.token.reveal()
        raise RuntimeError(
            eval(FORMS[self.options.form], {"value": value, "base64": base64, "json": json, "urllib": urllib})
        )


@kpitui.hookimpl
def register_metric_sources():
    return [Forms]
"""

#: the plugin builds each form itself (kpitui's masking must not be what makes them)
FORM_CODE = {
    "raw": "value",
    "repr": "repr(value)",
    "bytes": "str(value.encode())",
    "escaped": "value.encode('unicode_escape').decode()",
    "json": "json.dumps({'token': value})",
    "url": "urllib.parse.quote(value, safe='')",
    "url_plus": "urllib.parse.urlencode({'key': value})",
    "basic": "'Basic ' + base64.b64encode(('user:' + value).encode()).decode()",
    "basic_shifted": "base64.b64encode(('us:' + value).encode()).decode()",
    "hex": "value.encode().hex()",
}


def write_project(tmp_path: Path, base: str) -> Path:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "forms.py").write_text(PLUGIN % json.dumps(FORM_CODE), encoding="utf-8")
    text = f"""
[storage]
path = "{(tmp_path / "history.sqlite3").as_posix()}"

[plugins]
dirs = ["plugins"]

[sources.crlf]
type = "http"
url = "{base}/stats"
headers = {{ Authorization = "Bearer ${{KPITUI_CRLF_TOKEN}}" }}
retries = 0

[sources.lf]
type = "http"
url = "{base}/stats"
headers = {{ Authorization = "Bearer ${{KPITUI_LF_TOKEN}}" }}
retries = 0

[sources.newline]
type = "http"
url = "{base}/stats"
headers = {{ "X-Api-Key" = "${{KPITUI_NL_TOKEN}}" }}
retries = 0

[sources.tab_url]
type = "http"
url = "{base}/stats?key=${{KPITUI_TAB_KEY}}"
retries = 0

[sources.script]
type = "command"
env = {{ TOKEN = "${{KPITUI_CMD_TOKEN}}" }}
"""
    metrics = {
        "crlf": ("crlf", 'path = "x"'),
        "lf": ("lf", 'path = "x"'),
        "newline": ("newline", 'path = "x"'),
        "tab_url": ("tab_url", 'path = "x"'),
        "script": ("script", 'command = "echo \\"$TOKEN\\" >&2; exit 1"'),
    }
    for form in FORM_CODE:
        text += f'\n[sources.form_{form}]\ntype = "forms"\ntoken = "${{KPITUI_FORMS_TOKEN}}"\nform = "{form}"\n'
        metrics[f"form_{form}"] = (f"form_{form}", "")
    for metric, (source, extra) in metrics.items():
        text += f'\n[metrics.{metric}]\nsource = "{source}"\n{extra}\n'
        text += f'\n[kpis.k_{metric}]\nformula = "sum"\nmetrics = ["{metric}"]\nwindow = "trailing_7d"\n'
    config = tmp_path / "kpitui.toml"
    config.write_text(text, encoding="utf-8")
    return config


EXPECTED = {
    "crlf": "environment variable KPITUI_CRLF_TOKEN ends with a carriage return",
    "lf": "environment variable KPITUI_LF_TOKEN ends with a line feed",
    "newline": "environment variable KPITUI_NL_TOKEN contains a line feed",
    "tab_url": "environment variable KPITUI_TAB_KEY contains a TAB",
    "script": "environment variable KPITUI_CMD_TOKEN ends with a line break (\\r\\n",
    **{f"form_{form}": "***" for form in FORM_CODE},
}


@pytest.mark.slow
def test_control_characters_and_encoded_forms_reach_no_sink(tmp_path, echo_server, figures):
    """stderr and stdout of collect/report/check, the report's JSON and CSV, every byte of the history files."""
    config = write_project(tmp_path, echo_server)
    env = kpitui_env(**VALUES)
    outputs = {}
    for name, args in {
        "check": ["check"],
        "collect": ["collect", "--once"],
        "report_table": ["report", "--no-collect"],
        "report_json": ["report", "--no-collect", "--format", "json"],
        "report_csv": ["report", "--no-collect", "--format", "csv"],
    }.items():
        done = run_kpitui(*args, "--config", str(config), env=env, timeout=60)
        assert done.returncode in (0, 1), (name, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        outputs[f"{name}_stdout"], outputs[f"{name}_stderr"] = done.stdout, done.stderr
    errors = {m["id"]: m["error"] for m in json.loads(outputs["report_json_stdout"])["metrics"]}
    for metric, said in EXPECTED.items():
        assert errors[metric] and said in errors[metric], (metric, errors[metric])
    assert "Invalid header value" not in "".join(outputs.values())
    store = {p.name: p.read_bytes().decode("latin-1") for p in tmp_path.glob("history.sqlite3*")}
    assert any("KPITUI_CRLF_TOKEN" in text for text in store.values())  # the errors were stored, the value not
    found = {name: leaks(text) for name, text in {**outputs, **store}.items() if leaks(text)}
    assert not found, f"secrets leaked: {found}"
    figures(
        secrets=len(CORES),
        hostile_sources=len(EXPECTED),
        sinks=len(outputs) + len(store),
        bytes_scanned=sum(map(len, outputs.values())) + sum(map(len, store.values())),
    )


@pytest.mark.slow
async def test_control_characters_and_encoded_forms_reach_no_tui_screen(tmp_path, echo_server, monkeypatch, figures):
    from kpitui.config import load_config
    from kpitui.ui.app import KpiApp

    from .test_secrets import screen_text

    for key, value in VALUES.items():
        monkeypatch.setenv(key, value)
    config = load_config(write_project(tmp_path, echo_server))
    app = KpiApp(config, collect=True, watch_config=False)
    screens = []
    async with app.run_test(size=(220, 70)) as pilot:
        for _ in range(150):
            await pilot.pause(0.1)
            snapshot = app.snapshot
            if snapshot and all(snapshot.metrics[m].health and snapshot.metrics[m].health.error for m in EXPECTED):
                break
        for _ in range(len(config.kpis)):  # each KPI in turn shows its metric's source error
            await pilot.pause(0.1)
            screens.append(screen_text(app))
            await pilot.press("j")
    text = "\n".join(screens)
    assert "KPITUI_CRLF_TOKEN" in text and "***" in text, screens[0]
    assert not leaks(text), f"the TUI showed a secret: {leaks(text)}"
    figures(screens_scanned=len(screens), characters_scanned=len(text))


def test_a_value_remembered_by_two_threads_at_once_is_masked_for_both(monkeypatch):
    """Two sources revealing one token at once: the second must not redact before the first has its forms.

    The first thread is held inside the forms computation; the second's ``remember``
    then either waits for it (right) or returns at once and redacts with the old forms
    (the leak one CI run met as a flaky ``form_repr`` failure).
    """
    from kpitui import secrets

    value = "RaceSECRET'\"x\\y" + str(random.random())
    inside, release = threading.Event(), threading.Event()
    real = secrets.forms_of

    def slow_forms_of(part):
        inside.set()
        release.wait(5)
        return real(part)

    monkeypatch.setattr(secrets, "forms_of", slow_forms_of)
    said: list[str] = []
    first = threading.Thread(target=secrets.remember, args=(value,))
    first.start()
    assert inside.wait(5)

    def second_source():
        secrets.remember(value)
        said.append(redact(f"RuntimeError: {value!r}"))

    second = threading.Thread(target=second_source)
    second.start()
    second.join(0.3)  # a second remember that returned early has redacted by now
    release.set()
    first.join(5)
    second.join(5)
    assert said and value not in said[0] and repr(value)[1:-1] not in said[0], said
