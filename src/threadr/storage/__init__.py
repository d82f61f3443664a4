"""Redis: the client and its health watch, the gateway every call travels through (lane or pool,
circuit breaker, deadlines), Lua scripts and key names. The only package that touches redis-py
connections; stores elsewhere call the gateway and never see a connection or a packed byte."""
