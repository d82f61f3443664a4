"""Accounts: users, passwords, server-side sessions and premium access (issue #11)."""
