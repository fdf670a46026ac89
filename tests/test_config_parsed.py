"""A large config's parsed TOML kept between starts (kpitui.config.parsed): exactly what tomllib gives
for that text, never for another text, and any trouble with the kept copy only costs a parse."""

from __future__ import annotations

import datetime as dt
import math
import stat
import tomllib

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings, strategies as st

from kpitui.config import ConfigError, load_config, parsed

keys = st.text(min_size=1, max_size=8)
scalars = st.one_of(
    st.text(max_size=20),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.datetimes(  # TOML offsets are whole minutes
        timezones=st.one_of(st.none(), st.integers(-1439, 1439).map(lambda m: dt.timezone(dt.timedelta(minutes=m))))
    ),
    st.dates(),
    st.times(),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=12
)
documents = st.dictionaries(keys, values, max_size=6)


def same(a, b) -> bool:
    """Equal, and of the same types all the way down (1 is not 1.0, nor True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b and getattr(a, "tzinfo", None) == getattr(b, "tzinfo", None)


@pytest.fixture
def small_enough(monkeypatch):
    monkeypatch.setattr(parsed, "MIN_BYTES", 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=documents, other=documents)
def test_the_kept_copy_is_what_tomllib_gives_for_that_text_only(tmp_path, small_enough, document, other):
    path = tmp_path / "kpitui.toml"
    text = tomli_w.dumps(document)
    expected = tomllib.loads(text)
    assert same(parsed.loads(text, path), expected)  # parsed, then kept
    assert same(parsed.loads(text, path), expected)  # from the kept copy
    changed = tomli_w.dumps(other)
    assert same(parsed.loads(changed, path), tomllib.loads(changed))  # another text: parsed anew


def test_a_second_start_reads_the_kept_copy_and_an_edit_is_parsed(tmp_path, small_enough, monkeypatch):
    path = tmp_path / "kpitui.toml"
    text = 'a = 1\nwhen = 2026-01-02T03:04:05.123456+05:30\nday = 2026-01-02\n[t]\nx = [1.5, -0.0, "s"]\n'
    first = parsed.loads(text, path)
    (kept,) = parsed._file(path).parent.iterdir()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and stat.S_IMODE(kept.parent.stat().st_mode) == 0o700

    def no_parse(text):
        raise AssertionError("parsed again")

    monkeypatch.setattr(parsed.tomllib, "loads", no_parse)
    assert same(parsed.loads(text, path), first)
    with pytest.raises(AssertionError):
        parsed.loads(text.replace("a = 1", "a = 2"), path)  # one character changed: not the kept copy


def test_a_damaged_copy_a_colliding_key_or_nan_cost_only_a_parse(tmp_path, small_enough):
    path = tmp_path / "kpitui.toml"
    text = "a = 1\n"
    parsed.loads(text, path)
    kept = parsed._file(path)
    good = kept.read_text()
    for damage in ("{", "[]", '{"format": 1, "digest": 3, "data": 1}', good[: len(good) // 2],
                   good.replace('"digest"', '"digest0"'), good.replace('"format": 1', '"format": 0')):  # fmt: skip
        kept.write_text(damage)
        assert same(parsed.loads(text, path), {"a": 1})
        assert kept.read_text() == good  # parsed and kept again
    tagged = '["\\u0000kpitui-toml"]\nv = "2026-01-01"\n"\\u0000kpitui-toml" = "date"\n'
    assert same(parsed.loads(tagged, path), tomllib.loads(tagged))
    assert same(parsed.loads(tagged, path), tomllib.loads(tagged))
    nan = "x = nan\n"
    assert math.isnan(parsed.loads(nan, path)["x"]) and math.isnan(parsed.loads(nan, path)["x"])


def test_a_small_config_is_always_parsed_and_an_invalid_one_still_named(tmp_path):
    path = tmp_path / "kpitui.toml"
    path.write_text("[metrics.a]\n")
    load_config(path)
    assert not parsed._file(path).exists()
    path.write_text("[metrics.a]\n" + "# padding\n" * (parsed.MIN_BYTES // 10 + 1))
    assert "a" in load_config(path).metrics
    assert parsed._file(path).exists()
    path.write_text(path.read_text() + "[metrics.b\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(path)
