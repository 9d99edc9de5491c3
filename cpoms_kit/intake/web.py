"""The intake's web plumbing: response headers, session cookies and CSRF tokens.

Every response: `Cache-Control: no-store` (the back button shows an empty form, never what was
typed), a strict Content-Security-Policy (no script at all, styles and images from the intake
only, forms post only to it, no framing), no referrer, no sniffing; HSTS under TLS.

CSRF: every form carries `csrf_token`, an HMAC under a secret made when the server starts of the
session token (logged in) or of a random pre-session cookie (the enrolment and log-in forms). A
POST whose token does not match is refused with 403 before anything is read from it. Cookies are
HttpOnly, SameSite=Strict and, under TLS, Secure.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "cpoms_session"
PRE_COOKIE = "cpoms_pre"
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
HEADERS = [
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecureHeaders:
    """ASGI middleware: the headers above on every response, whatever produced it."""

    def __init__(self, app: ASGIApp, tls: bool) -> None:
        self.app = app
        self.extra = HEADERS + ([(b"strict-transport-security", b"max-age=31536000")] if tls else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in self.extra}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + self.extra
            await send(message)

        await self.app(scope, receive, with_headers)


class Guard:
    """CSRF tokens and cookies, under a secret that lives as long as the server process."""

    def __init__(self, tls: bool) -> None:
        self.secret = secrets.token_bytes(32)
        self.tls = tls

    def token_for(self, value: str, purpose: str = "csrf") -> str:
        return hmac.new(self.secret, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()

    def csrf(self, request: Request, pre: str | None = None) -> str:
        """The token a form shown on this request carries (`pre`: a pre-session cookie just made)."""
        basis = request.cookies.get(SESSION_COOKIE) or pre or request.cookies.get(PRE_COOKIE) or ""
        return self.token_for(basis)

    def csrf_ok(self, request: Request, given: str) -> bool:
        basis = request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRE_COOKIE)
        if not basis or not given:
            return False
        return hmac.compare_digest(self.token_for(basis), given)

    def pre_cookie(self, request: Request) -> str | None:
        """A new pre-session value when the browser has none yet (to set with `set_cookie`)."""
        return None if request.cookies.get(PRE_COOKIE) else secrets.token_urlsafe(24)

    def set_cookie(self, response: Response, name: str, value: str) -> None:
        response.set_cookie(name, value, httponly=True, secure=self.tls, samesite="strict", path="/")

    def clear_cookie(self, response: Response, name: str) -> None:
        response.delete_cookie(name, httponly=True, secure=self.tls, samesite="strict", path="/")

    def signed(self, value: str, seconds: int) -> str:
        """`value` with an expiry and a MAC: a short-lived proof carried in a form (the TOTP set-up
        a school requires before the first log-in)."""
        until = str(int(time.time()) + seconds)
        return f"{value}.{until}.{self.token_for(f'{value}.{until}', 'signed')}"

    def unsigned(self, token: str) -> str | None:
        parts = token.rsplit(".", 2)
        if len(parts) != 3:
            return None
        value, until, mac = parts
        if not until.isdigit() or int(until) < time.time():
            return None
        return value if hmac.compare_digest(self.token_for(f"{value}.{until}", "signed"), mac) else None
