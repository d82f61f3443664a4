"""Usage analytics: per-UTC-day counts counted in process (counts), and their series read back
from Redis (series)."""
