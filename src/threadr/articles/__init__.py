"""Articles: SSRF-proof fetching (netguard vets every hop, the transport connects only to vetted
addresses) and extraction of the article text. Pure domain: no Redis, no limits, no HTTP server."""
