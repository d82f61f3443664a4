"""Pure-ASGI middleware around the whole app.

Order (outermost first), set in web/app.py: CORS (when origins are configured) → EdgeHeaders
(request id, security headers) → Probes (health answered ahead of Starlette) → Starlette. They
sit outside Starlette's ServerErrorMiddleware, so even a 500 carries every header."""
