"""The thread options: validated with sentences that name the field, normalised, and turned
into one stable part of the cache key."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from threadr.errors import ValidationFailed
from threadr.writing.options import (
    DEFAULT_OPTIONS,
    SPECS,
    Options,
    catalogue,
    json_schema,
    parse_options,
)


def test_no_options_are_the_defaults_with_an_empty_cache_part() -> None:
    assert parse_options(None) == parse_options({}) == DEFAULT_OPTIONS
    assert DEFAULT_OPTIONS.cache_part() == ""
    # Naming a default changes nothing either: the same key as no options at all.
    assert parse_options({"tone": "neutral", "numbering": "1/n", "emoji": True}).cache_part() == ""


def test_every_option_is_parsed_and_normalised() -> None:
    options = parse_options(
        {
            "length": "long",
            "tone": "witty",
            "emoji": False,
            "hashtags": 2,
            "language": "PT-br",
            "numbering": "(1/n)",
            "numbering_position": "end",
            "hook": "statistic",
            "format": "thread",
        }
    )
    assert options == Options(
        length="long", tone="witty", emoji=False, hashtags=2, language="pt-BR",
        numbering="(1/n)", numbering_position="end", hook="statistic",
    )  # fmt: skip
    assert options.cache_part() == (
        "emoji=false&hashtags=2&hook=statistic&language=pt-BR&length=long"
        "&numbering=(1/n)&numbering_position=end&tone=witty"
    )


def test_the_cache_part_is_stable_whatever_the_order_or_spelling() -> None:
    a = parse_options({"tone": "casual", "language": "zh-hant-tw"})
    b = parse_options({"language": "ZH-Hant-TW", "tone": "casual"})
    assert a == b and a.cache_part() == b.cache_part() == "language=zh-Hant-TW&tone=casual"
    assert parse_options({"tone": "witty"}).cache_part() != parse_options({}).cache_part()


def test_an_exact_count_overrides_the_length() -> None:
    options = parse_options({"length": "short", "tweets": 12})
    assert options.count_range() == (12, 12)
    assert options == parse_options({"tweets": 12})  # one normal form, one cache key


def test_a_long_post_drops_what_only_a_thread_has() -> None:
    options = parse_options({"format": "long_post", "tweets": 7, "numbering": "1."})
    assert options == parse_options({"format": "long_post"})
    assert options.count_range() == (1, 1)


@pytest.mark.parametrize(
    ("length", "expected"),
    [("short", (3, 5)), ("medium", (6, 9)), ("long", (10, 15)), ("auto", (1, 25))],
)
def test_count_ranges(length: str, expected: tuple[int, int]) -> None:
    assert parse_options({"length": length}).count_range() == expected
    low, high = expected
    assert parse_options({"length": length}).count_range(8) == (min(low, 8), min(high, 8))


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ("short", '"options" must be a JSON object'),
        (["short"], '"options" must be a JSON object'),
        ({"lenght": "short"}, '"options" has no field "lenght"; the options are length, tweets'),
        ({"length": "huge"}, 'options.length must be one of "auto", "short", "medium", "long", '
         'not "huge".'),
        ({"tweets": 1}, "options.tweets must be between 2 and 25, not 1."),
        ({"tweets": 26}, "options.tweets must be between 2 and 25, not 26."),
        ({"tweets": 5.5}, "options.tweets must be a whole number, not 5.5."),
        ({"tweets": True}, "options.tweets must be a whole number, not true."),
        ({"tweets": "5"}, 'options.tweets must be a whole number, not "5".'),
        ({"tone": "angry"}, "options.tone must be one of"),
        ({"tone": 3}, "options.tone must be a string, not 3."),
        ({"emoji": "yes"}, 'options.emoji must be true or false, not "yes".'),
        ({"hashtags": 4}, "options.hashtags must be between 0 and 3, not 4."),
        ({"hashtags": -1}, "options.hashtags must be between 0 and 3, not -1."),
        ({"language": "english"}, "options.language must be auto or a BCP 47 language tag"),
        ({"language": "e"}, "options.language must be auto or a BCP 47 language tag"),
        ({"language": "en_US"}, "options.language must be auto or a BCP 47 language tag"),
        ({"language": "x" * 100}, "options.language must be auto or a BCP 47 language tag"),
        ({"numbering": "1)"}, 'options.numbering must be one of "1/n", "1.", "(1/n)", "none"'),
        ({"numbering_position": "middle"}, "options.numbering_position must be one of"),
        ({"hook": "joke"}, "options.hook must be one of"),
        ({"format": "essay"}, 'options.format must be one of "thread", "long_post"'),
    ],
)  # fmt: skip
def test_a_bad_option_is_a_422_naming_it(raw: Any, said: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_options(raw)
    assert caught.value.status == 422 and caught.value.code == "invalid_options"
    assert said in caught.value.detail
    assert caught.value.detail.endswith(".") and len(caught.value.detail) < 300


@pytest.mark.parametrize(
    "tag", ["en", "de", "pt-BR", "zh-Hant-TW", "sr-Latn-RS", "es-419", "de-CH-1901", "x-klingon"]
)
def test_well_formed_language_tags_are_kept(tag: str) -> None:
    assert parse_options({"language": tag}).language == tag
    assert parse_options({"language": tag.lower()}).language == tag


def test_the_catalogue_lists_every_field_with_its_default() -> None:
    names = [spec.name for spec in catalogue()]
    assert names == list(Options.__struct_fields__)
    for spec in catalogue():
        assert spec.default == getattr(DEFAULT_OPTIONS, spec.name)
        assert spec.description.endswith(".")
        if spec.values is not None:
            for value in spec.values:  # every listed value is accepted
                assert getattr(parse_options({spec.name: value}), spec.name) == value
    encoded = msgspec.json.decode(msgspec.json.encode(catalogue()))
    assert encoded[0] == {
        "name": "length",
        "type": "string",
        "default": "auto",
        "description": SPECS[0].description,
        "values": ["auto", "short", "medium", "long"],
    }


def test_the_json_schema_documents_every_option() -> None:
    schema = json_schema()
    assert "invalid_options" in schema["description"]
    assert set(schema["properties"]) == set(Options.__struct_fields__)
    assert schema["properties"]["tweets"] == {
        "type": ["integer", "null"],
        "minimum": 2,
        "maximum": 25,
        "default": None,
        "description": SPECS[1].description,
    }
