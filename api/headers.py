"""Security headers: what a browser needs to be told about streamrec's answers.

Every answer says ``X-Content-Type-Options: nosniff`` (a JSON error is never run as a
script). HTML answers (the page, the dashboard, their fragments) also get a Content
Security Policy: scripts only from the API itself (htmx and page.js are served from
``/static``; no page has an inline script), styles from itself or inline (the
dashboard's one ``<style>`` and htmx's indicator style), no framing by any site
(clickjacking), forms and ``<base>`` only to itself; and ``Referrer-Policy:
same-origin``, so a user id in the address never leaves for another site.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
EVERY_ANSWER = ((b"x-content-type-options", b"nosniff"),)
HTML_ANSWERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """Pure ASGI middleware adding the module's headers to each answer's start."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                html = any(name.lower() == b"content-type" and value.startswith(b"text/html")
                           for name, value in headers)
                headers += [(name, value) for name, value in EVERY_ANSWER + (HTML_ANSWERS if html else ())
                            if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
