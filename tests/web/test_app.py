"""The app's error mapping: every error is JSON with a sentence and a code, never a stack."""

import re
from pathlib import Path
from typing import Any

import threadr
from tests.factories import make_settings, running_app
from threadr.web.schemas import ErrorBody


async def test_unknown_path_and_method_are_json() -> None:
    async with running_app(make_settings()) as client:
        missing = await client.get("/nope")
        wrong = await client.get("/api/generate")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


async def test_production_adds_hsts_and_hides_internal_detail() -> None:
    class Exploding:
        async def fetch(self, url: str) -> Any:
            raise RuntimeError("secret internals")

    settings = make_settings(ENVIRONMENT="production")
    async with running_app(settings, fetcher=Exploding()) as client:
        response = await client.post("/api/generate", json={"url": "https://example.com/a"})
    assert response.status_code == 500
    assert "secret" not in response.text
    assert response.json()["code"] == "internal_error"
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.headers["x-request-id"]


def test_every_extra_an_error_carries_is_a_field_of_the_error_body() -> None:
    """ErrorBody(**extra) renders every error: an undeclared key would fail inside the handler."""
    source = Path(threadr.__file__).parent
    extras = {
        key
        for path in source.rglob("*.py")
        for key in re.findall(r"extra=\{\s*\"(\w+)\"", path.read_text(encoding="utf-8"))
    }
    assert extras == {"usage", "upstream_status"}
    assert extras <= set(ErrorBody.__struct_fields__)
