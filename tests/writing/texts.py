"""Text strategies and checks shared by the writing tests."""

from __future__ import annotations

import json
from functools import cache

import pytest
from hypothesis import strategies as st

from tests.factories import DATASET

fragments = st.sampled_from(
    [
        *["alpha", "Beta.", "gamma,", "delta;", "Dr.", "e.g.", "—", "…", "?!", "(1/5)", "2/7"],
        *["Tweet 3:", "Thread:", "Sure!", "日本語の文章", "。", "e\u0301", "x" * 300],
        *["\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1ef\U0001f1f5", "\ufe0f"],
        *["https://example.com/a/long/path", "example.com", "bit.ly", "file.txt"],
        *[" ", " ", " ", " ", "\n", "\n\n", "\t"],
    ]
)
# Arbitrary text, and text made of the pieces that stress the splitter and the counter.
any_text = st.one_of(st.text(max_size=1500), st.lists(fragments, max_size=200).map("".join))


def squeeze(text: str) -> str:
    """`text` without any whitespace: what splitting may move but never lose."""
    return "".join(text.split())


@cache
def articles() -> list[str]:
    """The article bodies of the shared dataset (the test is skipped without it)."""
    path = DATASET / "ground-truth.json"
    if not path.exists():
        pytest.skip(f"the article dataset is not at {path}; these tests need the shared datasets")
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [entry["articleBody"] for entry in entries.values()]
