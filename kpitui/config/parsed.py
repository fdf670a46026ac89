"""A large config's parsed TOML, kept between starts.

Python's TOML parser is pure Python: a config of 300 KPIs and 1,000 metrics
(94 kB) takes about 0.1 s of CPU to parse, on the way to every start's first
frame. :func:`loads` keeps what it parsed as JSON (read back by the C
decoder in a few milliseconds) in kpitui's data folder, one file per config
path (``parsed-configs/<hash of the path>.json``, 0600 in a 0700 folder),
with a hash of the text it came from: it is used only for exactly that text,
and any edit parses the file anew (and replaces it). Dates and times are
tagged (JSON has none); what could not come back equal is not kept. A file
under :data:`MIN_BYTES` is always parsed: it is quick. Anything unexpected
(no data folder, a damaged file) only costs the parse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

from ..private_files import per_config, replace_private

#: configs smaller than this are parsed every time (the sample's 7 kB: a few milliseconds)
MIN_BYTES = 16 << 10
FORMAT = 1
_TAG = "\x00kpitui-toml"
_KINDS: dict[str, Any] = {"datetime": dt.datetime, "date": dt.date, "time": dt.time}


def loads(text: str, path: Path) -> dict[str, Any]:
    """``tomllib.loads(text)`` (``text`` read from ``path``), from the kept copy when it is of this text."""
    if len(text) < MIN_BYTES:
        return tomllib.loads(text)
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()
    where = _file(path)
    try:
        kept = json.loads(where.read_text(encoding="utf-8"), object_hook=_decode)
        if kept.get("format") == FORMAT and kept.get("digest") == digest and isinstance(kept.get("data"), dict):
            data: dict[str, Any] = kept["data"]
            return data
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        pass
    data = tomllib.loads(text)
    _keep(where, digest, data)
    return data


def _encode(value: Any) -> dict[str, str]:
    for kind, cls in _KINDS.items():  # datetime before date: a datetime is a date
        if isinstance(value, cls):
            return {_TAG: kind, "v": value.isoformat()}
    raise TypeError(f"not TOML: {type(value).__name__}")


def _decode(table: dict[str, Any]) -> Any:
    kind = table.get(_TAG)
    if kind is not None and len(table) == 2:
        return _KINDS[kind].fromisoformat(table["v"])
    return table


def _file(config_path: Path) -> Path:
    """Where the parsed copy of the config at ``config_path`` is kept."""
    return per_config("parsed-configs", config_path)


def _keep(where: Path, digest: str, data: dict[str, Any]) -> None:
    try:
        text = json.dumps({"format": FORMAT, "digest": digest, "data": data}, default=_encode)
        if json.loads(text, object_hook=_decode)["data"] != data:
            return  # a table with a key like the tag, or NaN (never equal): parsed each time
        replace_private(where, text)
    except (OSError, ValueError, TypeError):
        pass  # a read-only or missing data folder: the next start parses again
