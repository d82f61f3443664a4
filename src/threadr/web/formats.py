"""What the OpenAPI document (GET /openapi.json) says a string holds; decoding checks nothing
more: the rules are source.py's and subscribers/address.py's, and answer with their own codes."""

from __future__ import annotations

from typing import Annotated

import msgspec

Link = Annotated[str, msgspec.Meta(extra_json_schema={"format": "uri"})]
Email = Annotated[str, msgspec.Meta(extra_json_schema={"format": "email"})]
