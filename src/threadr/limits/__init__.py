"""Who may do what, how often: the GCRA rate limiter, the free-tier quota, and admission (the
limiter and the cache read of POST /api/generate in one round trip)."""
