"""Text that is safe to print: whatever a disclosure, a rule file or a file name holds is
shown as text, never as terminal control.

An id or a name may hold escape sequences that recolour or retitle a terminal, a carriage
return that overwrites a line, a line break that forges an extra ``error:`` line, or an
unpaired surrogate no output can encode. Every text tuneprint echoes from its input goes
through ``printable``; every line it writes goes through ``terminal_safe``.
"""

from __future__ import annotations

import math
import re
import unicodedata

# Control characters (C0, DEL, C1), line and paragraph separators, bidirectional controls
# and marks, zero-width characters and the byte-order mark, and unpaired surrogates.
ONE_BYTE = 0x100  # code points written as \\xNN; larger ones as \\uNNNN
WHOLE_BITS_SHOWN = 4_000  # a whole number of more bits (1,200 digits) is told by its size
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff\ud800-\udfff]"
)
_UNSAFE_IN_LINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069"
    "\ufeff\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < ONE_BYTE else f"\\u{code:04x}"


def json_safe(text: str) -> str:
    """JSON text with what ``terminal_safe`` would escape written as JSON's own escapes
    (``\\u0085``): JSON itself escapes only C0 controls, and ``\\x85`` is not JSON."""
    if not _UNSAFE_IN_LINES.search(text):
        return text
    return _UNSAFE_IN_LINES.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def printable(text: str) -> str:
    """The text with every control character (line breaks included), bidirectional
    control and unpaired surrogate written as an escape (``\\x1b``, ``\\u2028``)."""
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def terminal_safe(text: str) -> str:
    """Like ``printable``, but line breaks and tabs (tuneprint's own layout) are kept."""
    return _UNSAFE_IN_LINES.sub(_escape, text) if _UNSAFE_IN_LINES.search(text) else text


def has_control(text: str) -> bool:
    """Whether a text holds anything ``printable`` would escape, or an invisible character
    (Unicode controls, formats such as zero-width spaces, surrogates)."""
    if _UNSAFE.search(text):
        return True
    if text.isascii():  # the only ASCII controls are C0 and DEL, found above
        return False
    return any(unicodedata.category(ch) in ("Cc", "Cs", "Cf") for ch in text)


def one_line(text: str) -> str:
    """A text of several lines (a rule's warning, as YAML folds it) as one, its runs of
    spaces and line breaks one space each."""
    return " ".join(text.split())


def whole_digits(value: int) -> str:
    """About how many digits a whole number has, without writing it."""
    return f"about {int(abs(value).bit_length() * math.log10(2)) + 1}"


def given(value: object, limit: int) -> str:
    """A value as the input wrote it, for a message: text quoted, numbers as written,
    ``null``, ``true`` and ``false``, lists and mappings as JSON, dates and times of day
    in ISO form, binary data by its size; at most ``limit`` characters."""
    import json
    from datetime import date, time

    if value is None or isinstance(value, (bool, list, tuple, dict)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    elif isinstance(value, (date, time)):
        text = value.isoformat() + (" (a time of day)" if isinstance(value, time) else "")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        size = len(value)
        text = f"binary data ({size} byte{'' if size == 1 else 's'})"
    elif isinstance(value, int) and value.bit_length() > WHOLE_BITS_SHOWN:  # (see _short)
        text = f"a whole number of {whole_digits(value)} digits"
    elif isinstance(value, (str, int, float)):
        text = repr(value)
    else:  # Decimal and the like: as written
        text = str(value)
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
