"""Pure-ASGI middleware around the whole app.

Order (outermost first), set in web/app.py: EdgeHeaders (request id, security headers, and CORS
when origins are configured: cors.py) → Telemetry (metrics and the request's log line; left out
when METRICS_ENABLED and ACCESS_LOG are both off) → Probes (health answered ahead of Starlette)
→ ClientAddress (when CLIENT_IP_HEADER names the edge proxy's header; probes need no client) →
Shortcut (POST /api/generate, the hot path, ahead of Starlette's layers, with the app's error
handlers) → Starlette. They sit outside Starlette's ServerErrorMiddleware, so even a 500 carries
every header, and is counted and logged. Telemetry sits inside EdgeHeaders, so its line has the
request id; a CORS preflight, answered by EdgeHeaders, reaches neither."""
