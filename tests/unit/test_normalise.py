"""Identity normalisation, step by step: each spelling a source may use of one name, one
college, one value, and the one form it must come to."""

from __future__ import annotations

import pytest

from scrapeline.errors import PipelineError
from scrapeline.quality.normalise import (
    Aliases,
    collapse_spaces,
    drop_suffixes,
    fold_case,
    initial_form,
    is_initial_form,
    normalise_name,
    normalise_text,
    normalise_value,
    reorder_last_first,
    strip_accents,
    strip_punctuation,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Núñez", "Nunez"), ("José", "Jose"), ("Ørjan", "Ørjan"), ("ﬁne", "fine"), ("plain", "plain")],
)
def test_strip_accents(text: str, expected: str) -> None:
    assert strip_accents(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [("STRASSE", "strasse"), ("Straße", "strasse"), ("McDonald", "mcdonald")]
)
def test_fold_case(text: str, expected: str) -> None:
    assert fold_case(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("O'Brien", "OBrien"),
        ("D’Angelo", "DAngelo"),
        ("Smith-Jones", "Smith Jones"),
        ("J.R. Smith", "J R  Smith"),
        ("A&M (TX)", "A M  TX "),
        ("under_score", "under score"),
    ],
)
def test_strip_punctuation(text: str, expected: str) -> None:
    assert strip_punctuation(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("  a   b\t c \n", "a b c"), ("", ""), ("a", "a")])
def test_collapse_spaces(text: str, expected: str) -> None:
    assert collapse_spaces(text) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("john smith jr", "john smith"),
        ("john smith sr", "john smith"),
        ("john smith ii", "john smith"),
        ("john smith iii", "john smith"),
        ("john smith iv", "john smith"),
        ("john smith iii jr", "john smith"),
        ("jr smith", "jr smith"),  # only trailing words are suffixes
        ("iv", "iv"),  # a name that is only a suffix stays
        ("john smithjr", "john smithjr"),
    ],
)
def test_drop_suffixes(name: str, expected: str) -> None:
    assert drop_suffixes(name) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Nunez, Jose", "jose nunez"),
        ("Núñez, José Jr.", "jose nunez"),
        ("Smith Jr., John", "john smith"),
        ("Smith, Jr., John", "john smith"),
        ("John Smith, Jr.", "john smith"),
        ("De La Cruz, Juan Carlos", "juan carlos de la cruz"),
        ("a, b, c", "a b c"),  # which part is the last name cannot be told
        (",Smith", "smith"),
    ],
)
def test_reorder_last_first(text: str, expected: str) -> None:
    assert reorder_last_first(text) == expected


@pytest.mark.parametrize(
    ("spellings", "expected"),
    [
        (
            ["José Núñez", "Nunez, Jose", "JOSE NUNEZ", "José  Núñez Jr.", "Núñez, José"],
            "jose nunez",
        ),
        (["J. Nunez", "J Nunez", "j.  nuñez"], "j nunez"),
        (["Patrick O'Brien III", "O'Brien, Patrick", "patrick obrien"], "patrick obrien"),
        (["Jean-Luc Picard", "Picard, Jean-Luc"], "jean luc picard"),
    ],
)
def test_normalise_name_brings_every_spelling_to_one(spellings: list[str], expected: str) -> None:
    assert {normalise_name(s) for s in spellings} == {expected}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Southern California", "southern california"), ("Texas A&M", "texas a m"), ("  ", "")],
)
def test_normalise_text(text: str, expected: str) -> None:
    assert normalise_text(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("USC ", "usc"), ("", None), ("...", None), (230, 230), (None, None)]
)
def test_normalise_value(value: object, expected: object) -> None:
    assert normalise_value(value) == expected


@pytest.mark.parametrize(
    ("name", "initials", "is_initials"),
    [
        ("jose nunez", "j nunez", False),
        ("j nunez", "j nunez", True),
        ("jose luis nunez", "j l nunez", False),
        ("j l nunez", "j l nunez", True),
        ("nunez", "nunez", False),
        ("j", "j", False),
    ],
)
def test_initial_form(name: str, initials: str, is_initials: bool) -> None:
    assert initial_form(name) == initials
    assert is_initial_form(name) is is_initials


def test_aliases_are_normalised_on_both_sides_and_applied_to_normalised_values() -> None:
    aliases = Aliases.of(
        {"college": {"USC": "Southern California", "Southern Cal.": "southern california"}}
    )
    assert aliases.apply("college", normalise_text("U.S.C.")) == "u s c"  # not an alias spelling
    assert aliases.apply("college", normalise_text("usc")) == "southern california"
    assert aliases.apply("college", normalise_text("Southern Cal")) == "southern california"
    assert aliases.apply("college", "alabama") == "alabama"
    assert aliases.apply("position", "usc") == "usc"  # per field


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        ({"college": {"usc": "southern california", "southern california": "trojans"}}, "chain"),
        ({"college": {"USC": "a", "usc": "b"}}, "two canonical"),
        ({"college": {"...": "x"}}, "empty"),
        ({"college": {"usc": 3}}, "not text"),
        ({"college": ["usc"]}, "must map"),
        (["college"], "maps field names"),
    ],
)
def test_bad_aliases_are_refused_in_one_line(aliases: object, message: str) -> None:
    with pytest.raises(PipelineError, match=message) as caught:
        Aliases.of(aliases)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
