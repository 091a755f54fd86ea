"""Matching written names to table rows and field names, and suggesting the closest ones.

Two forms of a name: the written form (case and spacing folded, punctuation kept) tells
"us-west-2" from "us-west2"; the folded form (punctuation dropped too) forgives "A100 80GB"
for "a100-80gb". A name written exactly as a key or alias wins; otherwise it matches when
its folded form points at one row only.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from .model import Table

MAX_SUGGESTIONS = 3  # closest known names offered for an unknown one
CACHE_SIZE = 65536  # names kept in their folded forms
SUGGESTION_CUTOFF = 0.5  # similarity (0 to 1) a known name needs to be suggested


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


def canonical_name(table: Table, name: str) -> str | None:
    """The row key a written name refers to (through aliases), or None."""
    exact = table.names.get(written_form(name))
    if exact is not None:
        return exact
    keys = table.folded.get(normalise(name), ())
    return keys[0] if len(keys) == 1 else None


def ambiguous(table: Table, name: str) -> tuple[str, ...]:
    """The rows a name could mean when, without punctuation, it fits several."""
    keys = table.folded.get(normalise(name), ())
    return keys if len(keys) > 1 and written_form(name) not in table.names else ()


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
    for match in difflib.get_close_matches(
        wanted, list(folded), n=n * 3, cutoff=SUGGESTION_CUTOFF
    ):
        out.extend(k for k in folded[match] if k not in out)
    if not out and wanted:
        for form, names in folded.items():
            if wanted in form or form in wanted:
                out.extend(k for k in names if k not in out)
    return out[:n]


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
    spelling ("; did you mean a (what a is), b (what b is), or by spelling c?")."""
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
