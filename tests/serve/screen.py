"""A tiny terminal: enough of VT100 to turn what a served app sends (Textual's output) into lines of text.

Handles cursor addressing (CUP ``ESC[r;cH`` and relative moves), erase (``ESC[2J``,
``ESC[K``), CR/LF and printable text; ignores colours, modes and OSC strings. Used
to read the dashboard from the bytes a browser (or a raw websocket) received.
"""

from __future__ import annotations

import re

_SEQUENCE = re.compile(
    r"\x1b\[([?>=]?)([0-9;:]*)([ -/]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78NOPc\\]"
)


class Screen:
    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.rows = [[" "] * width for _ in range(height)]
        self.x = self.y = 0
        self._pending = ""
        self._decoder = None

    def resize(self, width: int, height: int) -> None:
        """As a terminal does: keep what is drawn (cut or padded), the app repaints what changed."""
        rows = [(row + [" "] * width)[:width] for row in self.rows[:height]]
        rows += [[" "] * width for _ in range(height - len(rows))]
        self.width, self.height, self.rows = width, height, rows

    def feed(self, data: bytes | str) -> None:
        if isinstance(data, bytes):
            import codecs

            if self._decoder is None:
                self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
            data = self._decoder.decode(data)
        text = self._pending + data
        self._pending = ""
        last = text.rfind("\x1b")
        if last != -1 and len(text) - last < 64 and not _SEQUENCE.match(text, last):
            text, self._pending = text[:last], text[last:]  # an escape sequence cut in two: wait for its end
        pos = 0
        for match in _SEQUENCE.finditer(text):
            self._text(text[pos : match.start()])
            self._control(match)
            pos = match.end()
        self._text(text[pos:])

    def _text(self, text: str) -> None:
        for ch in text:
            if ch == "\r":
                self.x = 0
            elif ch == "\n":
                self.y = min(self.height - 1, self.y + 1)
            elif ch == "\b":
                self.x = max(0, self.x - 1)
            elif ch >= " ":
                if 0 <= self.y < self.height and 0 <= self.x < self.width:
                    self.rows[self.y][self.x] = ch
                self.x += 1

    def _control(self, match: re.Match[str]) -> None:
        if match.group(4) is None:
            return
        private, params, final = match.group(1), match.group(2), match.group(4)
        if private:
            return
        numbers = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else []

        def arg(i: int, default: int = 1) -> int:
            return numbers[i] if len(numbers) > i and numbers[i] else default

        if final in "Hf":
            self.y, self.x = arg(0) - 1, arg(1) - 1
        elif final == "A":
            self.y = max(0, self.y - arg(0))
        elif final == "B":
            self.y = min(self.height - 1, self.y + arg(0))
        elif final == "C":
            self.x += arg(0)
        elif final == "D":
            self.x = max(0, self.x - arg(0))
        elif final == "G":
            self.x = arg(0) - 1
        elif final == "d":
            self.y = arg(0) - 1
        elif final == "J" and arg(0, 0) in (2, 3):
            self.rows = [[" "] * self.width for _ in range(self.height)]
        elif final == "K":
            mode = arg(0, 0)
            row = self.rows[self.y] if 0 <= self.y < self.height else None
            if row is not None:
                span = (
                    range(self.x, self.width)
                    if mode == 0
                    else range(0, min(self.x + 1, self.width))
                    if mode == 1
                    else range(self.width)
                )
                for i in span:
                    row[i] = " "

    def text(self) -> str:
        return "\n".join("".join(row).rstrip() for row in self.rows)
