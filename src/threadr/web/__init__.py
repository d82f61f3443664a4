"""HTTP: the app factory, handlers grouped by resource, request bodies and response schemas,
and pure-ASGI middleware. The only package that imports Starlette; domain code never imports it."""
