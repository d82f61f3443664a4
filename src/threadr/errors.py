"""The one exception tree of the service, and the HTTP status and code each maps to.

    ThreadrError                      500 internal_error (never raised for client input)
    ├── BadRequest                    400 invalid_json / not_an_object / client_disconnected
    ├── Unauthorized                  401 unauthorized
    ├── QuotaExceeded                 402 quota_exceeded
    ├── Forbidden                     403 forbidden
    │   └── BlockedURL                403 url_blocked (url_scheme, url_private …)
    ├── NotFound                      404 not_found
    ├── Conflict                      409 conflict
    ├── PayloadTooLarge               413 payload_too_large
    ├── UnsupportedMediaType          415 unsupported_media_type
    ├── ValidationFailed              422 validation_error (url_or_text, text_too_long …)
    ├── Unprocessable                 422 unprocessable (no_article, page_too_large …)
    ├── RateLimited                   429 rate_limited
    ├── FetchFailed                   502 fetch_failed
    ├── PaymentProviderFailed         502 payment_provider_error (payment_provider_timeout)
    ├── ServiceUnavailable            503 service_unavailable
    └── FetchTimeout                  504 fetch_timeout

Domain code raises these; `web/app.py` turns each into a JSON body `{"detail", "code", ...}`
(web/responses.py). `detail` is one sentence a person understands; `code` is stable for machines.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ThreadrError(Exception):
    """Base of every error the service turns into an HTTP response."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance refinement of the class code
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(ThreadrError):
    status = 400
    code = "bad_request"


class Unauthorized(ThreadrError):
    """Raised by the admin and account endpoints (issues #11, #12): a missing or wrong key/token."""

    status = 401
    code = "unauthorized"


class QuotaExceeded(ThreadrError):
    status = 402
    code = "quota_exceeded"


class Forbidden(ThreadrError):
    status = 403
    code = "forbidden"


class BlockedURL(Forbidden):
    code = "url_blocked"


class NotFound(ThreadrError):
    """Raised by GET /api/threads/{id} (issue #11); Starlette's router answers unknown paths."""

    status = 404
    code = "not_found"


class Conflict(ThreadrError):
    """Raised by POST /api/auth/register (issue #11): the email is taken."""

    status = 409
    code = "conflict"


class PayloadTooLarge(ThreadrError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ThreadrError):
    status = 415
    code = "unsupported_media_type"


class ValidationFailed(ThreadrError):
    status = 422
    code = "validation_error"


class Unprocessable(ThreadrError):
    """Well-formed input that cannot be used: no article on the page, wrong content type …"""

    status = 422
    code = "unprocessable"


class RateLimited(ThreadrError):
    status = 429
    code = "rate_limited"


class FetchFailed(ThreadrError):
    status = 502
    code = "fetch_failed"


class PaymentProviderFailed(ThreadrError):
    """Stripe refused or did not answer a call the service made to it (billing/, issue #11)."""

    status = 502
    code = "payment_provider_error"


class ServiceUnavailable(ThreadrError):
    """Raised by writes that must reach Redis (accounts, email capture; issues #11, #12)."""

    status = 503
    code = "service_unavailable"


class FetchTimeout(ThreadrError):
    status = 504
    code = "fetch_timeout"


class ConfigError(Exception):
    """Settings that cannot start the service; the message lists every problem at once."""
