"""Matching written names to table rows and field names, and suggesting the closest ones.

Two forms of a name: the written form (case and spacing folded, punctuation kept) tells
"us-west-2" from "us-west2"; the folded form (punctuation dropped too) forgives "A100 80GB"
for "a100-80gb". A name written exactly as a key or alias wins; otherwise it matches when
its folded form points at one row only.

Two exceptions keep a written "not known" from becoming a real place or product:

- a placeholder ("N/A", "NA", "none", "null", "unknown", "tbd", "-", "?"...) matches no
  row, even one with that alias ("NA" is Namibia's ISO code): the message says to leave
  the value out;
- a short name, one of at most ``SHORT_NAME`` letters and digits (ISO codes "FR" and
  "FRA", "T4", "A10"), matches only written as a code: its ASCII letters and digits, any
  case, with at most hyphens, dots, underscores or spaces between them and a dot after
  ("T-4", "U.S."). Folding would turn too much into such codes: "N/A" into "NA"
  (Namibia), "ß" into "SS" (South Sudan), "Ｔ４" into "T4".
"""

from __future__ import annotations

import difflib
import heapq
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from .model import Table

MAX_SUGGESTIONS = 3  # closest known names offered for an unknown one
CACHE_SIZE = 65536  # names kept in their folded forms
SUGGESTION_CUTOFF = 0.5  # similarity (0 to 1) a known name needs to be suggested
COUNTED_KEPT = 64  # sets of known names (a table's, the fields') kept with their letters counted
SHORT_NAME = 3  # letters and digits of a code that matches only exactly as written
# a short name's letters and digits, with separators between them and a dot after
_SEPARATED = re.compile(r"[A-Za-z0-9]+(?:[-._ ]+[A-Za-z0-9]+)*\.?")

# Folded forms (see ``normalise``) of what people write for a value they do not know:
# "N/A", "n.a.", "#N/A", "<NA>" and "NA" all fold to "na". Text of punctuation only ("-",
# "?", "--", "...") is a placeholder too.
PLACEHOLDERS = frozenset(
    {
        "na",
        "nan",
        "none",
        "null",
        "nil",
        "unknown",
        "unk",
        "tbd",
        "tba",
        "tbc",
        "notapplicable",
        "notavailable",
        "notknown",
        "notdisclosed",
        "notspecified",
        "undisclosed",
        "unspecified",
        "undefined",
        "missing",
    }
)


@lru_cache(maxsize=CACHE_SIZE)
def normalise(name: str) -> str:
    """Case-, space- and punctuation-insensitive form ("US West (Oregon)" -> "uswestoregon");
    NFKC folds compatibility look-alikes (full-width letters) first."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


@lru_cache(maxsize=CACHE_SIZE)
def written_form(name: str) -> str:
    """A name as written, only case and spacing folded ("US West (Oregon)" ->
    "us west (oregon)")."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def is_placeholder(name: str) -> bool:
    """Whether a written name stands for a value not known ("N/A", "none", "-", "?")
    rather than naming anything: punctuation only, or a folded form in ``PLACEHOLDERS``."""
    if not name.strip():
        return False  # empty: not written at all
    folded = normalise(name)
    return not folded or folded in PLACEHOLDERS


def is_short(name: str) -> bool:
    """Whether a name is short (``SHORT_NAME`` letters and digits or fewer), so matches
    only written as a code (``_as_code``)."""
    return len(normalise(name)) <= SHORT_NAME


def _as_code(name: str) -> str | None:
    """The written form of a short name written as its letters and digits (ASCII), with
    at most hyphens, dots, underscores or spaces between them and a dot after ("T-4",
    "U.S.", "Fr."), lowercased; None for anything else: no Unicode folding ("ß" -> "ss",
    "Ｔ４") or other punctuation dropped ("N/A", "(US)") makes a code."""
    text = name.strip()
    if not text.isascii() or not _SEPARATED.fullmatch(text):
        return None
    return " ".join(text.lower().split())


def _short_match(table: Table, name: str) -> str | None:
    """The row of a short name: written exactly as a key or alias, or, with its
    separators taken out (``_as_code``), as the one row of that folded form."""
    written = _as_code(name)
    if written is None:
        return None
    exact = table.names.get(written)
    if exact is not None:
        return exact
    keys = table.folded.get(normalise(written), ())
    return keys[0] if len(keys) == 1 else None


def canonical_name(table: Table, name: str) -> str | None:
    """The row key a written name refers to (through aliases), or None. A placeholder
    matches nothing, a short name only written as a code (``_short_match``)."""
    if is_placeholder(name):
        return None
    if is_short(name):
        return _short_match(table, name)
    exact = table.names.get(written_form(name))
    if exact is not None:
        return exact
    keys = table.folded.get(normalise(name), ())
    return keys[0] if len(keys) == 1 else None


def ambiguous(table: Table, name: str) -> tuple[str, ...]:
    """The rows a name could mean when, without punctuation, it fits several (never a
    placeholder or a short name: those are not matched without punctuation)."""
    if is_placeholder(name) or is_short(name):
        return ()
    keys = table.folded.get(normalise(name), ())
    return keys if len(keys) > 1 and written_form(name) not in table.names else ()


def placeholder_hint(
    word: str, known: Mapping[str, Sequence[str]] | Iterable[str], quote: bool = True
) -> str:
    """ "; it reads as a placeholder..." for a placeholder written where a name is wanted;
    a placeholder that is also a code ("NA", Namibia's) names the rows that code means."""
    meant: list[str] = []
    if isinstance(known, Mapping) and _as_code(word) is not None:  # (a code as written)
        meant = list(dict.fromkeys(known.get(normalise(word), ())))
    also = ""
    if meant:
        shown = ", ".join(repr(k) if quote else k for k in meant)
        also = f", or write {shown} if that is what {word.strip()!r} stands for"
    return f"; it reads as a placeholder, not a name: leave the value out if it is not known{also}"


def suggest(
    word: str, known: Mapping[str, Sequence[str]] | Iterable[str], n: int = MAX_SUGGESTIONS
) -> list[str]:
    """The known names closest to ``word``, best first: by spelling of the folded forms,
    then names that contain it or that it contains.

    ``known`` is either names, or a mapping from folded forms (of names and their aliases)
    to the names they stand for.
    """
    if isinstance(known, Mapping):
        folded: Mapping[str, Sequence[str]] = known
    else:
        table: dict[str, list[str]] = {}
        for name in known:
            table.setdefault(normalise(name), []).append(name)
        folded = table
    wanted = normalise(word)
    out: list[str] = []
    for match in close_matches(wanted, tuple(folded), n * 3, SUGGESTION_CUTOFF):
        out.extend(k for k in folded[match] if k not in out)
    if not out and wanted:
        for form, names in folded.items():
            if wanted in form or form in wanted:
                out.extend(k for k in names if k not in out)
    return out[:n]


def close_matches(word: str, possibilities: tuple[str, ...], n: int, cutoff: float) -> list[str]:
    """``difflib.get_close_matches(word, possibilities, n, cutoff)``, the same list, in a
    fraction of its time for many words against one set of names (an unknown name in
    each of 10^5 rows: 1.2 ms each): a name's letters are counted once, not for each
    word, and its bounds (``real_quick_ratio``, ``quick_ratio``: the same numbers, from
    those counts) are worked out before difflib compares the two in full."""
    have = list(_letters(word).items())
    lb = len(word)
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(word)
    scored: list[tuple[float, str]] = []
    for name, la, counts in _counted(possibilities):
        length = la + lb
        if (2.0 * min(la, lb) / length if length else 1.0) < cutoff:
            continue
        matches = 0
        for ch, k in have:
            found = counts.get(ch)
            if found:
                matches += k if k < found else found
        if (2.0 * matches / length if length else 1.0) < cutoff:
            continue
        matcher.set_seq1(name)
        ratio = matcher.ratio()
        if ratio >= cutoff:
            scored.append((ratio, name))
    return [name for _, name in heapq.nlargest(n, scored)]


@lru_cache(maxsize=COUNTED_KEPT)
def _counted(possibilities: tuple[str, ...]) -> list[tuple[str, int, dict[str, int]]]:
    """Each name, its length and the count of each of its letters."""
    return [(name, len(name), _letters(name)) for name in possibilities]


def _letters(text: str) -> dict[str, int]:
    """The count of each letter of a text."""
    counts: dict[str, int] = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    return counts


def did_you_mean(
    word: str,
    known: Mapping[str, Sequence[str]] | Iterable[str],
    quote: bool = True,
    meaning: Mapping[str, Sequence[str]] | None = None,
    describe: Mapping[str, str] | None = None,
) -> str:
    """ "; did you mean 'a', 'b'?" for the closest names, or "" when none is close. Field
    names (identifiers) are shown without quotes.

    ``meaning`` maps folded words (declared aliases) to the names they mean: the names
    ``word`` means come first, each with its ``describe`` text, then the closest by
    spelling ("; did you mean a (what a is), b (what b is), or by spelling c?").

    A placeholder ("N/A", "none", "-") gets no suggestions: ``placeholder_hint``."""
    if is_placeholder(word):
        return placeholder_hint(word, known, quote)
    meant = list(dict.fromkeys(meaning.get(normalise(word), ()))) if meaning else []
    near = [k for k in suggest(word, known) if k not in meant]
    if not meant:
        shown = [repr(k) if quote else k for k in near]
        return f"; did you mean {', '.join(shown)}?" if near else ""
    describe = describe or {}
    parts = [
        (repr(k) if quote else k) + (f" ({describe[k]})" if k in describe else "") for k in meant
    ]
    spelt = [repr(k) if quote else k for k in near[: max(0, MAX_SUGGESTIONS - len(meant))]]
    tail = f", or by spelling {', '.join(spelt)}" if spelt else ""
    return f"; did you mean {', '.join(parts)}{tail}?"
