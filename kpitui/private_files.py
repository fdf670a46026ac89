"""Files only their user reads (kpitui's caches in its data folder): written whole, or not at all."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path


def replace_private(where: Path, text: str | bytes) -> None:
    """Write ``text`` (UTF-8, or bytes as they are) to ``where`` (0600, its folder 0700 when made) through a fresh
    file renamed over it: a reader sees the old file or the new one, never half of one. Raises :class:`OSError`."""
    where.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fresh = where.with_name(f".{where.name}.{secrets.token_hex(6)}")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if isinstance(text, bytes):
            with os.fdopen(fd, "wb") as raw:
                raw.write(text)
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
        os.replace(fresh, where)
    finally:
        fresh.unlink(missing_ok=True)


def per_config(folder: str, config_path: Path) -> Path:
    """The file in kpitui's data folder, under ``folder``, that keeps something of the config at ``config_path``
    (named by a hash of its absolute path)."""
    from .location import data_dir

    name = hashlib.sha256(str(Path(config_path).expanduser().absolute()).encode("utf-8", "surrogateescape")).hexdigest()
    return data_dir() / folder / f"{name[:32]}.json"
