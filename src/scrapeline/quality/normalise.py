"""Identity normalisation: the spellings of one name, one college, one value, brought to
one form so that sources can be compared. Pure: text in, text out.

    >>> normalise_name("Núñez, José Jr.")
    'jose nunez'
    >>> normalise_name("J. Nunez")
    'j nunez'
    >>> normalise_text("St. Mary's  College")
    'st marys college'
    >>> initial_form("jose nunez")
    'j nunez'

Each step is its own function, applied in this order by :func:`normalise_text`:
:func:`strip_accents` (Unicode NFKD, combining marks dropped; ``ß`` and the like by
case folding), :func:`fold_case`, :func:`strip_punctuation` (apostrophes vanish, any
other punctuation becomes a space), :func:`collapse_spaces`. :func:`normalise_name`
adds the two steps only names need: ``"Last, First"`` reordered to ``"first last"``
(:func:`reorder_last_first`) and generational suffixes dropped (:func:`drop_suffixes`).

Initials: a name whose given names are all single letters (``"j nunez"``,
``"j r smith"``) is in *initial form*. :func:`initial_form` turns any name into it
(``"jose nunez"`` → ``"j nunez"``); :func:`is_initial_form` says whether a name already
is one. Reconciliation lets an initial-form name match a full name only as a candidate
that its tie-breakers confirm, never on the initials alone.

Aliases (:class:`Aliases`) map a field's normalised spellings to one canonical
normalised spelling (``{"college": {"USC": "Southern California"}}``), both sides
normalised when declared, applied after normalising a value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from scrapeline.errors import PipelineError

SUFFIXES: frozenset[str] = frozenset({"jr", "sr", "ii", "iii", "iv"})
"""Generational suffixes dropped from names (after normalising: ``"Jr."`` is ``"jr"``)."""

_APOSTROPHES = {ord(ch): None for ch in "'’ʼ`´"}
# anything but letters, digits and white space (after apostrophes vanish: O'Brien → obrien)
_NOT_A_WORD = re.compile(r"[^\w\s]|_")


def strip_accents(text: str) -> str:
    """Decompose (NFKD) and drop the combining marks: ``"Núñez"`` → ``"Nunez"``;
    compatibility forms become their plain letters (``"ﬁ"`` → ``"fi"``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    if decomposed.isascii():
        return decomposed
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold_case(text: str) -> str:
    """Case folding, stronger than lower case: ``"STRASSE"`` and ``"Straße"`` agree."""
    return text.casefold()


def strip_punctuation(text: str) -> str:
    """Apostrophes removed, every other punctuation mark or symbol made a space:
    ``"O'Brien"`` → ``"OBrien"``, ``"Smith-Jones"`` → ``"Smith Jones"``."""
    return _NOT_A_WORD.sub(" ", text.translate(_APOSTROPHES))


def collapse_spaces(text: str) -> str:
    """Runs of white space made one space, none at either end."""
    return " ".join(text.split())


@lru_cache(maxsize=1 << 16)
def normalise_text(text: str) -> str:
    """Any text value in its comparable form: accents stripped, case folded,
    punctuation removed, spaces collapsed."""
    return collapse_spaces(strip_punctuation(fold_case(strip_accents(text))))


def drop_suffixes(name: str) -> str:
    """A normalised name without its trailing generational suffixes (``"jr"``, ``"sr"``,
    ``"ii"``, ``"iii"``, ``"iv"``); a name that is nothing but suffixes is kept whole."""
    words = name.split()
    while len(words) > 1 and words[-1] in SUFFIXES:
        words.pop()
    return " ".join(words)


def reorder_last_first(text: str) -> str:
    """Normalise each comma-separated part of ``text`` and put "Last, First" in the
    order "first last": ``"Nunez, Jose"`` → ``"jose nunez"``. Each part loses its
    suffixes, and a part that is only a suffix (``"Smith, Jr., John"``) is no name;
    with more than two parts left the order is kept (which is which cannot be told)."""
    parts = [normalise_text(p) for p in text.split(",")]
    kept = [drop_suffixes(p) for p in parts if p and not _only_suffixes(p)]
    if not kept:  # the name is nothing but suffixes: keep it whole
        return " ".join(p for p in parts if p)
    if len(kept) == 2:
        kept.reverse()
    return " ".join(kept)


def _only_suffixes(normalised: str) -> bool:
    return all(w in SUFFIXES for w in normalised.split())


@lru_cache(maxsize=1 << 17)
def normalise_name(text: str) -> str:
    """A person's name in its comparable form: ``"Núñez, José Jr."`` → ``"jose nunez"``
    (:func:`normalise_text`, then :func:`reorder_last_first` and :func:`drop_suffixes`)."""
    if "," in text:
        return reorder_last_first(text)
    return drop_suffixes(normalise_text(text))


@lru_cache(maxsize=1 << 17)
def initial_form(name: str) -> str:
    """A normalised name with every word but the last cut to its first letter:
    ``"jose luis nunez"`` → ``"j l nunez"``. A one-word name is its own initial form."""
    words = name.split()
    return " ".join([*(w[0] for w in words[:-1]), *words[-1:]])


def is_initial_form(name: str) -> bool:
    """Whether a normalised name gives its given names as initials only (``"j nunez"``):
    at least two words, all but the last one letter long."""
    words = name.split()
    return len(words) >= 2 and all(len(w) == 1 for w in words[:-1])


def normalise_value(value: Any) -> Any:
    """A field's value in the form compared between sources: text normalised, a number
    as a number (``1`` and ``1.0`` agree), None and empty text as None (missing)."""
    if isinstance(value, str):
        return normalise_text(value) or None
    return value


@dataclass(frozen=True, slots=True)
class Aliases:
    """Alias maps per field, normalised: ``{"college": {"usc": "southern california"}}``.

    Built by :meth:`of` from the user's spellings; :meth:`apply` maps one normalised
    value of a field to its canonical spelling (others pass through)."""

    by_field: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    spelled: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per field, each normalised canonical spelling → the canonical as declared
    (``"southern california"`` → ``"Southern California"``): what an entity shows."""

    @classmethod
    def of(cls, aliases: Mapping[str, Mapping[str, str]] | None) -> Aliases:
        """Normalise both sides of every alias. Raises PipelineError for a map that is not
        text to text, a side that normalises to nothing, or an alias whose canonical
        spelling is itself an alias of another (chains are ambiguous: map each straight)."""
        if aliases is None:
            return cls({})
        if not isinstance(aliases, Mapping):
            raise PipelineError(f"aliases= maps field names to alias maps, not {aliases!r}")
        out: dict[str, dict[str, str]] = {}
        spelled: dict[str, dict[str, str]] = {}
        for name, spellings in aliases.items():
            if not isinstance(name, str) or not isinstance(spellings, Mapping):
                raise PipelineError(f"aliases[{name!r}] must map spellings to spellings")
            mapped: dict[str, str] = {}
            for alias, canonical in spellings.items():
                if not isinstance(alias, str) or not isinstance(canonical, str):
                    raise PipelineError(f"aliases[{name!r}]: {alias!r} → {canonical!r} is not text")
                a, c = normalise_text(alias), normalise_text(canonical)
                if not a or not c:
                    raise PipelineError(f"aliases[{name!r}]: {alias!r} → {canonical!r} is empty")
                if mapped.get(a, c) != c:
                    raise PipelineError(
                        f"aliases[{name!r}]: {alias!r} is given two canonical spellings"
                    )
                if a != c:
                    mapped[a] = c
                spelled.setdefault(name, {}).setdefault(c, canonical)
            for a, c in mapped.items():
                if c in mapped:
                    raise PipelineError(
                        f"aliases[{name!r}]: {a!r} → {c!r} → {mapped[c]!r} is a chain: "
                        f"map {a!r} to {mapped[c]!r} directly"
                    )
            out[name] = mapped
        return cls(out, spelled)

    def canonical(self, name: str, normal: Any, value: Any) -> Any:
        """What an entity shows for ``value`` of field ``name`` (``normal`` its
        normalised, aliased form): the canonical spelling as declared when the value
        is an alias or a spelling of a canonical one, else ``value`` as given."""
        spelled = self.spelled.get(name)
        if spelled is None or not isinstance(normal, str):
            return value
        return spelled.get(normal, value)

    def apply(self, name: str, value: Any) -> Any:
        """The canonical spelling of a normalised ``value`` of field ``name``."""
        mapped = self.by_field.get(name)
        if mapped is None or not isinstance(value, str):
            return value
        return mapped.get(value, value)
