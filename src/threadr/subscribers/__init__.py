"""Email capture: who asked to hear from us, stored once per address (issue #12)."""
