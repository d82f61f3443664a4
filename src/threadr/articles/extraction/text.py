"""Plain text of the chosen nodes: blocks separated by a blank line, furniture labels dropped."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

_BLOCKS = (
    "p, div, section, article, header, h1, h2, h3, h4, h5, h6, li, ul, ol, dl, dt, dd, "
    "blockquote, pre, table, tr, figure, hr, address, main"
)
_BLOCK_MARK = "\ue000"  # private-use characters never found in a page's text
_BREAK_MARK = "\ue001"
_SPACES = re.compile(r"[^\S\n]+")
# Lines that label page furniture rather than say anything.
_NOISE_LINE = re.compile(
    r"(?:advertisement|advertising|sponsored(?: content)?|ad|story continues below"
    r"(?: advertisement)?|continue reading(?: below)?|scroll to continue(?: with content)?|"
    r"read more|related(?: articles?| stories| content| coverage)?|recommended(?: for you)?|"
    r"share(?: this)?(?: article| story| post)?|(?:click|tap) to (?:share|print|email).*|"
    r"sign up.{0,60}|subscribe.{0,60}|follow us.{0,40}|image:?|photo:?|caption:?)\W*",
    re.IGNORECASE,
)
# Bylines and datelines: "By Jane Doe - 11/18/19 11:04 PM EST", "Updated at 1:23 p.m.". A line
# that starts like a byline but ends like a sentence ("By Tuesday it was over.") is kept.
_DATELINE = re.compile(
    r"(?:By|BY) [A-Z][^.!?]{0,80}|"
    r"(?:Published|Updated|Posted|Last updated|First published|Last modified)\b.{0,60}",
)


def render(nodes: list[LexborNode]) -> str:
    """Text of the nodes with a blank line between blocks and a newline for each <br>."""
    parts = []
    for node in nodes:
        for block in node.css(_BLOCKS):
            block.insert_before(_BLOCK_MARK)
            block.insert_after(_BLOCK_MARK)
        for br in node.css("br"):
            br.insert_before(_BREAK_MARK)
        parts.append(node.text())
        parts.append(_BLOCK_MARK)
    return tidy("".join(parts).replace("\n", " ").replace(_BREAK_MARK, "\n"), _BLOCK_MARK)


def tidy(text: str, separator: str = "\n\n") -> str:
    """Squash spaces, drop empty and furniture-label blocks, separate blocks with a blank line."""
    blocks = []
    for block in text.split(separator):
        lines = [_SPACES.sub(" ", line).strip() for line in block.split("\n")]
        cleaned = "\n".join(
            line
            for line in lines
            if line and not _NOISE_LINE.fullmatch(line) and not _DATELINE.fullmatch(line)
        )
        if cleaned:
            blocks.append(cleaned)
    return "\n\n".join(blocks)
