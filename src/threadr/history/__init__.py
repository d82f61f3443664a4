"""Saved threads: every generation of a signed-in user, kept in their history (issue #11)."""
