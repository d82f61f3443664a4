"""What a caller may ask of a thread: its length, tone, emoji, hashtags, language, numbering,
hook and format. One table (`SPECS`) is the rulebook: it validates (`parse_options`), lists
the options for GET /api/options (`catalogue`) and gives each its default."""

from __future__ import annotations

import re
from typing import Any, Literal, cast

import msgspec

from threadr.errors import ValidationFailed

Length = Literal["auto", "short", "medium", "long"]
Tone = Literal["neutral", "casual", "professional", "witty", "enthusiastic", "educational"]
Numbering = Literal["1/n", "1.", "(1/n)", "none"]
Position = Literal["start", "end"]
Hook = Literal["summary", "question", "bold_claim", "statistic"]
Format = Literal["thread", "long_post"]

# Tweets in a thread of each length: (fewest, most), the hook and the closer included.
LENGTHS: dict[str, tuple[int, int]] = {"short": (3, 5), "medium": (6, 9), "long": (10, 15)}
MIN_TWEETS, MAX_TWEETS = 2, 25
MAX_HASHTAGS = 3
# X Premium's limit for one long post, in weighted characters.
LONG_POST_LENGTH = 25_000

# RFC 5646 (BCP 47) well-formed tags: language (+ extlang), script, region, variants,
# extensions, private use; or a private-use tag alone. The 4- to 8-letter language subtags the
# syntax allows are not taken: none is registered, and "english" is a mistake worth a 422.
# Irregular grandfathered tags are not taken either.
_BCP47 = re.compile(
    r"(?:(?P<lang>[a-z]{2,3}(?:-[a-z]{3}){0,3})"
    r"(?:-(?P<script>[a-z]{4}))?(?:-(?P<region>[a-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*"
    r"(?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*(?:-x(?:-[a-z0-9]{1,8})+)?"
    r"|x(?:-[a-z0-9]{1,8})+)",
    re.IGNORECASE,
)
_MAX_TAG = 35  # longer tags exist only in theory; nothing a model or a person would ask for


class Options(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A caller's options, validated and normalised (`parse_options`). The defaults are the
    service's behaviour without options."""

    length: Length = "auto"
    tweets: int | None = None  # an exact count (2–25); overrides `length`
    tone: Tone = "neutral"
    emoji: bool = True
    hashtags: int = 0
    language: str = "auto"  # the article's, or a BCP 47 tag ("de", "pt-BR")
    numbering: Numbering = "1/n"
    numbering_position: Position = "start"
    hook: Hook = "summary"
    format: Format = "thread"

    def cache_part(self) -> str:
        """The options that differ from the defaults, as `name=value` joined by `&` in name
        order: empty for the defaults, so their cache keys are those of a request without
        options."""
        defaults = _DEFAULTS
        return "&".join(
            f"{name}={_text(getattr(self, name))}"
            for name in sorted(self.__struct_fields__)
            if getattr(self, name) != getattr(defaults, name)
        )

    def count_range(self, max_tweets: int = MAX_TWEETS) -> tuple[int, int]:
        """The fewest and most tweets the thread may have (1 and 1 for a long post)."""
        if self.format == "long_post":
            return 1, 1
        if self.tweets is not None:
            n = min(self.tweets, max_tweets)
            return n, n
        low, high = LENGTHS.get(self.length, (1, max_tweets))
        return min(low, max_tweets), min(high, max_tweets)


DEFAULT_OPTIONS = Options()
_DEFAULTS = DEFAULT_OPTIONS


class OptionSpec(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One option as GET /api/options lists it."""

    name: str
    type: Literal["string", "integer", "boolean"]
    default: str | int | bool | None
    description: str
    values: list[str] | None = None  # the allowed values of a string option, when listed
    minimum: int | None = None
    maximum: int | None = None
    nullable: bool = False


def _values(kind: Any) -> list[str]:
    return list(kind.__args__)


SPECS: tuple[OptionSpec, ...] = (
    OptionSpec(
        name="length", type="string", default="auto", values=_values(Length),
        description="How long the thread is: short (3–5 tweets), medium (6–9), long (10–15); "
        "auto lets the writer choose from the article's length (up to MAX_THREAD_TWEETS).",
    ),
    OptionSpec(
        name="tweets", type="integer", default=None, minimum=MIN_TWEETS, maximum=MAX_TWEETS,
        nullable=True,
        description="An exact number of tweets, the hook and the closing tweet included; "
        "overrides length.",
    ),
    OptionSpec(
        name="tone", type="string", default="neutral", values=_values(Tone),
        description="The voice of the thread.",
    ),
    OptionSpec(
        name="emoji", type="boolean", default=True,
        description="Whether tweets may carry emoji (false: none at all).",
    ),
    OptionSpec(
        name="hashtags", type="integer", default=0, minimum=0, maximum=MAX_HASHTAGS,
        description="How many hashtags the thread carries, all in its last tweet.",
    ),
    OptionSpec(
        name="language", type="string", default="auto",
        description="auto (the article's language) or a BCP 47 tag such as de or pt-BR. The "
        "offline writer cannot translate: it keeps the article's language and says so in "
        "`warnings`.",
    ),
    OptionSpec(
        name="numbering", type="string", default="1/n", values=_values(Numbering),
        description='How tweets are numbered: "1/n" (3/7), "1." (3.), "(1/n)" ((3/7)) or none; '
        "counted inside every tweet's 280 characters.",
    ),
    OptionSpec(
        name="numbering_position", type="string", default="start", values=_values(Position),
        description="Whether the number starts or ends each tweet.",
    ),
    OptionSpec(
        name="hook", type="string", default="summary", values=_values(Hook),
        description="What the first tweet does: summarise, ask a question, make a bold claim "
        "or lead with a statistic.",
    ),
    OptionSpec(
        name="format", type="string", default="thread", values=_values(Format),
        description=f"A thread, or one long post of up to {LONG_POST_LENGTH:,} weighted "
        "characters (X Premium).",
    ),
)  # fmt: skip
_SPEC = {spec.name: spec for spec in SPECS}


def catalogue() -> list[OptionSpec]:
    """Every option with its type, allowed values, default and meaning (GET /api/options)."""
    return list(SPECS)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a request's `options` object (for the OpenAPI document)."""
    properties: dict[str, Any] = {}
    for spec in SPECS:
        schema: dict[str, Any] = {"type": [spec.type, "null"] if spec.nullable else spec.type}
        if spec.values is not None:
            schema["enum"] = spec.values
        if spec.minimum is not None:
            schema |= {"minimum": spec.minimum, "maximum": spec.maximum}
        properties[spec.name] = schema | {"default": spec.default, "description": spec.description}
    return {
        "type": "object",
        "properties": properties,
        "description": "Any other name is a 422 invalid_options; GET /api/options lists these.",
    }


def parse_options(raw: object) -> Options:
    """Validated, normalised options from a request's `options` (None: the defaults); raises
    ValidationFailed (422) with a sentence naming the field at fault."""
    if raw is None:
        return DEFAULT_OPTIONS
    if not isinstance(raw, dict):
        raise _invalid('"options" must be a JSON object, like {"length": "short"}.')
    unknown = [name for name in raw if name not in _SPEC]
    if unknown:
        name = str(unknown[0])[:40]
        raise _invalid(f'"options" has no field "{name}"; the options are {", ".join(_SPEC)}.')
    fields = {name: _check(_SPEC[name], value) for name, value in raw.items()}
    if fields.get("tweets") is not None:
        fields["length"] = "auto"  # an exact count overrides the length
    if fields.get("format") == "long_post":
        # One post: no count, no numbering. Normalised so that equal requests share a key.
        for name in ("tweets", "numbering", "numbering_position"):
            fields.pop(name, None)
    return msgspec.convert(fields, Options)


def _check(spec: OptionSpec, value: Any) -> Any:
    """`value` if it is allowed for `spec` (normalised), else a ValidationFailed naming it."""
    field = f"options.{spec.name}"
    if spec.type == "boolean":
        if not isinstance(value, bool):
            raise _invalid(f"{field} must be true or false, not {_shown(value)}.")
        return value
    if spec.type == "integer":
        if value is None and spec.nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(f"{field} must be a whole number, not {_shown(value)}.")
        if not (cast(int, spec.minimum) <= value <= cast(int, spec.maximum)):
            raise _invalid(
                f"{field} must be between {spec.minimum} and {spec.maximum}, not {value}."
            )
        return value
    if not isinstance(value, str):
        raise _invalid(f"{field} must be a string, not {_shown(value)}.")
    if spec.name == "language":
        return _language(value)
    if spec.values is not None and value not in spec.values:
        allowed = ", ".join(f'"{v}"' for v in spec.values)
        raise _invalid(f"{field} must be one of {allowed}, not {_shown(value)}.")
    return value


def _language(value: str) -> str:
    """ "auto", or a well-formed BCP 47 tag in its conventional case ("pt-br" → "pt-BR")."""
    tag = value.strip()
    if tag.lower() == "auto":
        return "auto"
    if len(tag) > _MAX_TAG or not _BCP47.fullmatch(tag):
        raise _invalid(
            f"options.language must be auto or a BCP 47 language tag such as en, de or pt-BR, "
            f"not {_shown(value)}."
        )
    parts = tag.split("-")
    out = [parts[0].lower()]
    singleton = False
    for part in parts[1:]:
        singleton = singleton or len(part) == 1
        if singleton:
            out.append(part.lower())  # extensions and private use stay lower case
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())  # script: Latn
        elif len(part) == 2 and part.isalpha():
            out.append(part.upper())  # region: BR
        else:
            out.append(part.lower())
    return "-".join(out)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _shown(value: object) -> str:
    """A client's value, quoted and kept short, for an error message."""
    text = msgspec.json.encode(value).decode() if _encodable(value) else type(value).__name__
    return text if len(text) <= 60 else text[:59] + "…"


def _encodable(value: object) -> bool:
    try:
        msgspec.json.encode(value)
    except (TypeError, msgspec.EncodeError):
        return False
    return True


def _invalid(detail: str) -> ValidationFailed:
    return ValidationFailed(detail, code="invalid_options")
