"""Secret values: what may be revealed, and masking every form of them in what kpitui prints or stores.

A value revealed from a ``${ENV}`` reference is remembered for this process
and :func:`redact` replaces it with ``***`` in any text, in each form it may
take on its way into an error message:

- raw (``TOPSECRET``), and Python's ``repr`` / ``str.encode`` escapes
  (``'TOPSECRET\\r'``, ``b'Bearer TOPSECRET\\r'``, ``\\u00e9``, ``\\xc3\\xa9``);
- JSON string escapes;
- URL-encoded (``%2B`` / ``+``, upper- or lower-case hex);
- base64 (standard and URL-safe), at each of the three byte alignments a
  value can have inside a longer encoded text (``Basic base64(user:pass)``);
- hex of its bytes.

Matching ignores ASCII case (and the value's own upper- and lower-case
forms are masked), so an echo in capitals is masked too.

:func:`check_env_value` refuses a value that cannot be meant: one ending with
a line break (a token file saved with Windows line endings gives
``TOKEN=$'abc\\r'``) or holding another control character. The error names
the variable, never the value.
"""

from __future__ import annotations

import base64
import binascii
import json
import string
import threading
import unicodedata
import urllib.parse

#: values shorter than this are not masked (masking "1" or "on" would garble every message)
MIN_MASKED = 4

_lock = threading.Lock()
_values: set[str] = set()
_forms: set[str] = set()  # ASCII-lower-cased
_folded: tuple[str, ...] = ()  # the same, a snapshot redact() reads without the lock
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

_NAMES = {
    "\r": "a carriage return (\\r)",
    "\n": "a line feed (\\n)",
    "\t": "a TAB",
    "\x00": "a NUL byte",
    "\x1b": "an ESC",
}


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def check_env_value(name: str, value: str, *, multiline: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` (never ``value``) when it ends with a line break or holds a control
    character.

    ``multiline`` allows line breaks and TABs inside the value (an environment
    variable handed to a command may be a PEM key), not at its end.
    """
    if value.endswith("\r\n"):
        raise ValueError(
            f"environment variable {name} ends with a line break (\\r\\n, Windows line endings?); remove it"
        )
    if value and value[-1] in "\r\n\x85\u2028\u2029":
        what = _NAMES.get(value[-1], "a line break")
        hint = "Windows line endings?" if value[-1] == "\r" else "echo without -n?"
        raise ValueError(f"environment variable {name} ends with {what}; remove it ({hint})")
    for ch in value:
        if _is_control(ch) and not (multiline and ch in "\r\n\t"):
            what = _NAMES.get(ch, f"control character U+{ord(ch):04X}")
            raise ValueError(f"environment variable {name} contains {what}; a secret used here cannot hold it")


def _base64_forms(data: bytes) -> set[str]:
    """The part of ``base64(prefix + data + suffix)`` that depends on ``data`` only, for each alignment."""
    forms = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode()
        # characters from ceil(4*shift/3) up to (shift+len)*8//6 are fixed by data's bits alone
        start = -(-shift * 4 // 3)
        stop = (shift + len(data)) * 8 // 6
        middle = encoded[start:stop]
        if len(middle) >= MIN_MASKED:
            forms.add(middle)
            forms.add(middle.replace("+", "-").replace("/", "_"))
            forms.add(urllib.parse.quote(middle, safe=""))
    return forms


_ESCAPES = (
    lambda v: repr(v)[1:-1],
    lambda v: repr(v + '"')[1:-2],  # repr inside a text that also holds a double quote escapes ' as \\'
    lambda v: v.encode("unicode_escape").decode("ascii"),
    lambda v: repr(v.encode("utf-8", "surrogatepass"))[2:-1],
    lambda v: repr(v.encode("utf-8", "surrogatepass") + b'"')[2:-2],
    lambda v: repr(bytearray(v.encode("utf-8", "surrogatepass")))[12:-2],  # escapes ' even inside b"…"
    lambda v: json.dumps(v)[1:-1],
    lambda v: json.dumps(v, ensure_ascii=False)[1:-1],
)


def forms_of(value: str) -> set[str]:
    """Every representation of ``value`` that :func:`redact` masks."""
    data = value.encode("utf-8", "surrogatepass")
    escaped = {escape(value) for escape in _ESCAPES}
    forms = {
        value,
        value.upper(),  # IGNORECASE alone misses ß -> SS
        value.lower(),
        *escaped,
        *(escape(form) for form in escaped for escape in _ESCAPES),  # an escaped message escaped again
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        binascii.hexlify(data).decode(),
    }
    forms |= _base64_forms(data)
    return {form for form in forms if len(form) >= MIN_MASKED}


def remember(value: str) -> None:
    """Mask ``value`` (in each of its forms) in everything :func:`redact` sees from now on.

    Its stripped core and each of its lines are masked too: ``TOKEN\\r``
    must not leave ``TOKEN`` readable.
    """
    global _folded
    parts = {value, value.strip(), *value.splitlines()}
    new = {part for part in parts if len(part) >= MIN_MASKED and part not in _values}
    if not new:
        return  # already masked: a value joins _values only once _folded holds its forms
    with _lock:
        for part in new:
            _forms.update(form.translate(_ASCII_LOWER) for form in forms_of(part))
        _folded = tuple(sorted(_forms, key=len, reverse=True))
        _values.update(new)


def redact(text: str) -> str:
    """``text`` with every form of every secret revealed so far in this process replaced by ``***``.

    Matching ignores ASCII case; overlapping matches are masked as one.
    """
    forms = _folded
    if not forms or not text:
        return text
    key = text.translate(_ASCII_LOWER)
    spans: list[tuple[int, int]] = []
    for form in forms:
        start = key.find(form)
        while start != -1:
            spans.append((start, start + len(form)))
            start = key.find(form, start + 1)
    if not spans:
        return text
    spans.sort()
    out, pos = [], 0
    for start, end in spans:
        if end <= pos:
            continue
        if start > pos:
            out.append(text[pos:start])
            out.append("***")
        elif not out:
            out.append("***")
        pos = end
    out.append(text[pos:])
    return "".join(out)
