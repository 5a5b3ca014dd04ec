"""Who may use the admin routes and the operator dashboard.

Credentials are the admin token (``STREAMREC_ADMIN_TOKEN``): sent as
``Authorization: Bearer <token>``, or, for the dashboard's pages only, a session
cookie that ``/admin/login`` sets once the token is typed into its form. The cookie
holds an expiry and an HMAC-SHA256 of it keyed by the token, so it needs no server
state, dies with a changed token, and cannot be forged without the token. Wrong tokens
are throttled per address (:mod:`api.throttle`: 5 a minute, then 429). The JSON
admin routes that change things take the header only: a cookie rides along with any
cross-site request, a header does not.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from starlette.requests import Request

from api.errors import ApiError
from api.services import Services, services_of

SESSION_COOKIE = "streamrec_admin"
SESSION_SECONDS = 12 * 3600


def _signature(token: str, expires: int) -> str:
    message = f"streamrec-admin-session|{expires}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def session_value(token: str, now: float | None = None) -> str:
    """A session cookie's value, valid for ``SESSION_SECONDS``."""
    expires = int(now if now is not None else time.time()) + SESSION_SECONDS
    return f"{expires}.{_signature(token, expires)}"


CLOCK_SLACK_S = 60  # an expiry this far past the lifetime is still taken (clocks of two API hosts)


def session_valid(token: str, value: str, now: float | None = None) -> bool:
    """A cookie :func:`session_value` made with ``token`` and not expired. Its expiry must
    also lie within ``SESSION_SECONDS`` of now: a far-future one, whoever signed it (an
    older version, a leaked signing), is refused."""
    expires_text, _, signature = value.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    now = now if now is not None else time.time()
    if not now <= expires <= now + SESSION_SECONDS + CLOCK_SLACK_S:
        return False
    return hmac.compare_digest(signature.encode(), _signature(token, expires).encode())


def client_address(request: Request) -> str:
    """Whom a failed sign-in is counted against: the peer's address (behind a proxy, the
    proxy's; run uvicorn with --proxy-headers to see the client's)."""
    return request.client.host if request.client else "-"


def token_matches(token: str, given: str) -> bool:
    return hmac.compare_digest(given.strip().encode(), token.encode())


def admin_services(request: Request, *, session_ok: bool = False) -> Services:
    """The app's services when ``request`` carries admin credentials; else an ApiError:
    403 ``admin_disabled`` without a configured token, 401 without credentials, 403
    for a wrong token. ``session_ok``: a valid session cookie counts as credentials."""
    services = services_of(request)
    token = services.settings.admin_token
    if not token:
        raise ApiError(403, "admin_disabled", "the admin routes are disabled on this server",
                       hint="set STREAMREC_ADMIN_TOKEN and restart the API to enable them")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given.strip():
        address = client_address(request)
        wait_s = services.sign_in_failures.retry_after_s(address)
        if wait_s is not None:
            raise ApiError(429, "too_many_failures", "too many wrong admin tokens from this address",
                           hint=f"try again in {wait_s} s", headers={"Retry-After": str(wait_s)})
        if not token_matches(token, given):
            services.sign_in_failures.failed(address)
            raise ApiError(403, "forbidden", "the bearer token is not the admin token")
        return services
    cookie = request.cookies.get(SESSION_COOKIE)
    if session_ok and cookie is not None and session_valid(token, cookie):
        return services
    raise ApiError(401, "unauthorized", "admin routes need an Authorization: Bearer <token> header"
                   + (" or a session from /admin/login" if session_ok else ""),
                   headers={"WWW-Authenticate": 'Bearer realm="streamrec-admin"'})
