"""Article extraction: page bytes in, an `Article` (title, body text, metadata) out.

`extract` (article.py) is the entry point; the other modules are its steps: charset decoding,
page metadata, boilerplate removal, content scoring, text rendering. docs/extraction.md says how
it works and how well."""

from .article import Article, extract

__all__ = ["Article", "extract"]
