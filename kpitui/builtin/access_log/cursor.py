"""The access log's cursor: where each file was left, kept in the store with the readings of the same poll.

Cursor
    A JSON object: ``file`` — the file being tailed: ``dev``/``ino`` (its
    identity), ``offset`` (bytes consumed), ``fp``/``fp_len`` (a hash of its
    first ``fp_len`` <= 1024 bytes, to notice a file replaced in place) and
    ``discard`` (inside an over-long line whose rest must be dropped). The
    file is known by ``dev``/``ino`` *and* by its content: when a reboot
    renumbers the device (LVM, btrfs, overlay, loop), the same inode whose
    head still hashes to ``fp`` is the same file, read on from ``offset``;
    ``prev`` — the previous file after a rename rotation, still drained while
    it sits at ``PATH.1``; ``backlog`` — rotated files still to import on the
    first run; ``missing`` — since when ``PATH`` has been missing (after
    ``missing_grace`` seconds, 300 by default, with nothing else left to read,
    that is the source's error until the file is back); ``distinct`` /
    ``latest`` — visitor state (see :mod:`.source`).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any

from kpitui.api import SourceError


@dataclass
class TailedFile:
    """Where we are in one file. ``name`` is set for rotated files imported on the first run."""

    dev: int
    ino: int
    offset: int = 0
    fp: str = ""
    fp_len: int = 0
    discard: bool = False
    name: str | None = None

    def same(self, st: os.stat_result) -> bool:
        return (st.st_dev, st.st_ino) == (self.dev, self.ino)

    @property
    def compressed(self) -> bool:
        """A rotated ``.gz`` file (read whole through gzip; it never grows)."""
        return self.name is not None and self.name.endswith(".gz")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dev": self.dev, "ino": self.ino, "offset": self.offset}
        if self.fp_len:
            out.update(fp=self.fp, fp_len=self.fp_len)
        if self.discard:
            out["discard"] = True
        if self.name is not None:
            out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, data: Any) -> TailedFile | None:
        if data is None:
            return None
        return cls(
            dev=int(data["dev"]),
            ino=int(data["ino"]),
            offset=int(data["offset"]),
            fp=str(data.get("fp", "")),
            fp_len=int(data.get("fp_len", 0)),
            discard=bool(data.get("discard", False)),
            name=None if data.get("name") is None else str(data["name"]),
        )


@dataclass
class Cursor:
    file: TailedFile | None = None
    prev: TailedFile | None = None
    backlog: list[TailedFile] = field(default_factory=list)
    latest: int | None = None  # the latest bucket seen, epoch microseconds
    missing: float | None = None  # since when PATH has been missing, epoch seconds
    catchup: list[int] | None = None  # a backlog being read in chunks: [bytes done, bytes in all], for progress
    distinct: dict[str, dict[str, str]] = field(
        default_factory=dict
    )  # metric -> bucket (epoch us) -> base64 u64 hashes

    def dump(self) -> str:
        data: dict[str, Any] = {
            "v": 1,
            "file": self.file.as_dict() if self.file else None,
            "prev": self.prev.as_dict() if self.prev else None,
            "backlog": [item.as_dict() for item in self.backlog],
        }
        if self.latest is not None:
            data["latest"] = self.latest
        if self.missing is not None:
            data["missing"] = self.missing
        if self.catchup is not None:
            data["catchup"] = self.catchup
        if self.distinct:
            data["distinct"] = self.distinct
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def load(cls, text: str | None) -> Cursor | None:
        if text is None:
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("v") != 1:
                raise ValueError("unknown cursor version")
            backlog = [TailedFile.from_dict(item) for item in data.get("backlog") or []]
            latest = data.get("latest")
            missing = data.get("missing")
            catchup = data.get("catchup")
            for buckets in (data.get("distinct") or {}).values():
                for blob in buckets.values():
                    if len(base64.b64decode(blob, validate=True)) % 8:
                        raise ValueError("bad visitor state")
            return cls(
                file=TailedFile.from_dict(data.get("file")),
                prev=TailedFile.from_dict(data.get("prev")),
                backlog=[item for item in backlog if item is not None],
                latest=None if latest is None else int(latest),
                missing=None if missing is None else float(missing),
                catchup=None if catchup is None else [int(catchup[0]), int(catchup[1])],
                distinct={
                    str(m): {str(k): str(v) for k, v in b.items()} for m, b in (data.get("distinct") or {}).items()
                },
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # binascii.Error is a ValueError
            raise SourceError(
                f"the saved position in the access log is unreadable ({exc}); reset this source's cursor"
            ) from None
