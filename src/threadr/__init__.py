"""Threadr: turns an article or pasted text into a ready-to-post X thread."""

__version__ = "0.1.0"
