"""What the model is told: the instructions for a thread with the caller's options, the JSON
schema of its reply, and the follow-up that asks again for only the tweets that were not right."""

from __future__ import annotations

import json

from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema

from .options import Options

# Models count characters loosely: they are asked for this much less than what fits.
MARGIN = 20

_TONES = {
    "neutral": "neutral and clear, like a good news summary",
    "casual": "casual and friendly, like explaining it to a friend; contractions are fine",
    "professional": "professional and precise, for colleagues; no slang",
    "witty": "witty, with light wordplay or a dry aside, never at the expense of the facts",
    "enthusiastic": "enthusiastic and energetic, without exaggerating any fact",
    "educational": "educational: explain terms a newcomer would not know, one idea at a time",
}
_HOOKS = {
    "summary": (
        "sums up the article's main point in one line that makes people want to read on",
        "Apple just fixed the MacBook Pro's keyboard. Here's what changed and why it matters:",
    ),
    "question": (
        "asks the reader a question the thread then answers",
        "Why did Apple finally give up on the butterfly keyboard?",
    ),
    "bold_claim": (
        "makes the article's boldest claim, stated plainly (it must be one the article makes)",
        "The 16-inch MacBook Pro is the laptop Apple should have made three years ago.",
    ),
    "statistic": (
        "leads with the article's most striking number",
        "0.5 mm: that's how much key travel Apple added back, and it changes everything.",
    ),
}
_EXAMPLE = {
    "count": 3,
    "tweets": [
        {
            "text": "Apple just fixed the MacBook Pro's keyboard. Here's what changed:",
            "quote": "",
        },
        {
            "text": "The new keyboard brings back a physical Escape key, and Touch ID now sits "
            "apart from the Touch Bar.",
            "quote": "The new keyboard on the 16-inch MacBook Pro has a physical escape key",
        },
        {"text": "Worth the upgrade if the old keyboard kept you away.", "quote": ""},
    ],
}

# Structured output: the count first, so that every tweet can be numbered as soon as it is
# complete; then each tweet with the words of the article it rests on.
RESPONSE_FORMAT: ResponseFormatJSONSchema = {
    "type": "json_schema",
    "json_schema": {
        "name": "thread",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "count": {"type": "integer"},
                "tweets": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"text": {"type": "string"}, "quote": {"type": "string"}},
                        "required": ["text", "quote"],
                        "additionalProperties": False,
                    },
                },
            },
            "required": ["count", "tweets"],
            "additionalProperties": False,
        },
    },
}


def system_prompt(options: Options, low: int, high: int, budget: int) -> str:
    """The instructions for a thread (or one long post) written with `options`."""
    long_post = options.format == "long_post"
    hook, example = _HOOKS[options.hook]
    if long_post:
        shape = (
            f"Write ONE long post (count 1) of at most {budget - MARGIN * 50:,} characters, in "
            "short paragraphs: its opening line hooks the reader, the paragraphs carry the "
            "article's key points, facts and numbers in order, the last one gives the takeaway."
        )
    else:
        count = f"exactly {low}" if low == high else f"between {low} and {high}"
        shape = (
            f"Write a thread of {count} tweets; decide the number first and put it in `count`. "
            "The first tweet is the hook; the middle tweets carry the article's key points, "
            "facts and numbers in order, one idea per tweet; the last tweet wraps up with the "
            f"takeaway. Each tweet at most {budget - MARGIN} characters, counting an emoji as "
            "2 and a link as 23. No numbering: it is added later."
        )
    language = (
        "Write in the article's own language."
        if options.language == "auto"
        else f"Write in the language with the BCP 47 tag {options.language!r}, whatever the "
        "article's language."
    )
    emoji = (
        "Use a few fitting emoji where they help (at most one per tweet)."
        if options.emoji
        else "Use no emoji at all."
    )
    tags = (
        "Use no hashtags."
        if options.hashtags == 0
        else f"End the last {'paragraph' if long_post else 'tweet'} with exactly "
        f"{options.hashtags} relevant hashtag{'s' if options.hashtags > 1 else ''}, and use "
        "none elsewhere."
    )
    return "\n".join(
        [
            "You turn articles into engaging X (Twitter) posts, faithful to the article: never "
            "add a fact, number or quotation it does not contain.",
            shape,
            f"Tone: {_TONES[options.tone]}.",
            f"The opening {hook}. For example: {example}",
            language,
            emoji,
            tags,
            "For each tweet, `quote` copies, word for word, 5 to 25 consecutive words of the "
            "article that the tweet rests on; use an empty string for a hook or closing line "
            "that rests on no single passage.",
            "Plain text, no markdown, no preamble. Reply with JSON only, like: "
            + json.dumps(_EXAMPLE, ensure_ascii=False),
        ]
    )


def messages(
    text: str, title: str | None, options: Options, low: int, high: int, budget: int
) -> list[ChatCompletionMessageParam]:
    """The conversation that asks for the thread."""
    heading = f"Title: {title}\n\n" if title else ""
    return [
        {"role": "system", "content": system_prompt(options, low, high, budget)},
        {"role": "user", "content": f"The article:\n\n{heading}{text}"},
    ]


def repair_messages(
    asked: list[ChatCompletionMessageParam],
    thread: list[str | None],
    rewrite: list[int],
    budget: int,
) -> list[ChatCompletionMessageParam]:
    """The conversation that asks again for only the tweets `rewrite` names (1-based): those
    too long, and those missing (None in `thread`)."""
    lines = [
        f"{i}. {text}" if text is not None else f"{i}. (missing)"
        for i, text in enumerate(thread, 1)
    ]
    what = ", ".join(map(str, rewrite))
    return [
        *asked,
        {
            "role": "user",
            "content": "The thread so far:\n"
            + "\n".join(lines)
            + f"\n\nWrite tweet(s) {what} again (or for the first time, where missing), each "
            f"at most {budget - MARGIN} characters, fitting between its neighbours. Reply "
            'with JSON only: {"count": <the thread\'s count>, "tweets": [{"text": "...", '
            '"quote": "..."}]}, the tweets in the order asked, only those asked for.',
        },
    ]
