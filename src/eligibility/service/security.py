"""What stands between the network and the engine: the token and the login, the body limit
and read timeouts, the security headers and the access log.

One pure ASGI middleware (`Guard`) does all of it, because each part needs the raw ASGI
messages: the body limit counts bytes as they arrive (a chunked body has no Content-Length
to check), the CSP hashes the inline blocks of the finished HTML, and the access log sees
the status and duration without the query string."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("eligibility.access")
internal_log = logging.getLogger("eligibility.service")

MIN_TOKEN_LENGTH = 16
SESSION_COOKIE = "eligibility_sitzung"
LOGIN_PATH = "/anmelden"
LOGOUT_PATH = "/abmelden"
# Routes that never need a login: the health check (it names the rule set, nothing personal)
# and the login page itself.
OPEN_PATHS = frozenset({"/healthz", LOGIN_PATH})
# The API description: a tool fetches it with the bearer token, a browser after the login.
DOC_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


class ServiceConfigError(Exception):
    """The service cannot start as configured; the message says why (German as the
    exception's text, English in `en`, for the command line's language)."""

    def __init__(self, de: str, en: str) -> None:
        super().__init__(de)
        self.de = de
        self.en = en


@dataclass(frozen=True)
class Limits:
    """What one request may cost. Every number can be changed on the command line."""

    max_body: int = 10 * 1024 * 1024  # bytes of one request body, chunked or not
    body_seconds: float = 60.0  # the whole body must arrive within this time
    idle_seconds: float = 15.0  # and no pause between two parts may be longer
    header_seconds: float = 10.0  # the request line and headers must arrive within this time
    max_records: int = 100_000  # records of one batch (JSON or NDJSON)


# ---------------------------------------------------------------- token


def token_from(env_name: str | None, file_env: str = "ELIGIBILITY_TOKEN_FILE") -> str | None:
    """The configured token: the file named by `ELIGIBILITY_TOKEN_FILE` (contents stripped),
    else the variable `env_name`. Both set is refused: which one wins would be a guess."""
    value = os.environ.get(env_name, "").strip() if env_name else ""
    file_name = os.environ.get(file_env, "").strip()
    if file_name:
        if value:
            raise ServiceConfigError(
                f"{env_name} und {file_env} sind beide gesetzt; bitte nur eines",
                f"{env_name} and {file_env} are both set; please set only one",
            )
        path = Path(file_name)
        if not path.is_file():
            raise ServiceConfigError(
                f"{file_env}: {file_name} ist keine lesbare Datei", f"{file_env}: {file_name} is not a readable file"
            )
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ServiceConfigError(
                f"{file_env}: {file_name} kann nicht gelesen werden ({type(exc).__name__})",
                f"{file_env}: {file_name} cannot be read ({type(exc).__name__})",
            ) from None
        if not value:
            raise ServiceConfigError(f"{file_env}: {file_name} ist leer", f"{file_env}: {file_name} is empty")
    return value or None


def check_token(token: str | None) -> None:
    """A short token can be guessed over the network; refuse it before the service starts."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ServiceConfigError(
            f"Zugangsschlüssel zu kurz ({len(token)} Zeichen, mindestens {MIN_TOKEN_LENGTH}); "
            "z. B. mit: openssl rand -hex 24",
            f"access token too short ({len(token)} characters, at least {MIN_TOKEN_LENGTH}); "
            "e.g. from: openssl rand -hex 24",
        )
    if token is not None and any(c.isspace() or not c.isprintable() for c in token):
        raise ServiceConfigError(
            "Zugangsschlüssel enthält Leer- oder Steuerzeichen", "access token contains spaces or control characters"
        )


def is_loopback(host: str) -> bool:
    """Only an address that parses as a loopback IP, or the name localhost, is this machine:
    a name such as 127.evil.example resolves wherever its owner wants."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure_error(host: str, token: str | None, allow_unauthenticated: bool, lang: str = "de") -> str | None:
    """Why the service must not start on `host`, or None."""
    if token or allow_unauthenticated or is_loopback(host):
        return None
    if lang == "en":
        return (
            f"The service would listen on {host} without an access token: anyone on the network would see "
            "personal data. Set ELIGIBILITY_TOKEN_FILE (or ELIGIBILITY_TOKEN), bind to 127.0.0.1 behind a "
            "reverse proxy, or give --allow-unauthenticated explicitly."
        )
    return (
        f"Der Dienst würde auf {host} ohne Zugangsschlüssel lauschen: jede:r im Netz sähe personenbezogene "
        "Daten. Setzen Sie ELIGIBILITY_TOKEN_FILE (oder ELIGIBILITY_TOKEN), binden Sie an 127.0.0.1 hinter "
        "einen Reverse-Proxy, oder geben Sie ausdrücklich --allow-unauthenticated an."
    )


# ---------------------------------------------------------------- sessions


# Between a session's random part and the user's name in its nonce: "~" is neither in the
# base64url alphabet nor special in a cookie.
USER_MARK = "~"
MAX_USER = 60


class Sessions:
    """Signed session cookies: `<expiry>.<nonce>.<hmac>`. The key is random per process, so a
    restart logs everyone out and nothing has to be stored; the CSRF token of a session is an
    HMAC of its nonce, so it is bound to that session and needs no storage either."""

    def __init__(self, max_age: int = 8 * 3600) -> None:
        self._key = secrets.token_bytes(32)
        self.max_age = max_age

    def _sign(self, text: str) -> str:
        mac = hmac.new(self._key, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self, user: str | None = None) -> str:
        """A session cookie; `user` (the login's "Name oder Kürzel", for the decision log)
        rides in the signed nonce, so nothing has to be stored for it either."""
        expiry = int(time.time()) + self.max_age
        nonce = secrets.token_urlsafe(18)
        if user:
            nonce += USER_MARK + base64.urlsafe_b64encode(user[:MAX_USER].encode()).decode().rstrip("=")
        body = f"{expiry}.{nonce}"
        return f"{body}.{self._sign('session:' + body)}"

    def verify(self, cookie: str | None) -> str | None:
        """The session's nonce, or None for a missing, forged or expired cookie."""
        if not cookie or cookie.count(".") != 2:
            return None
        expiry, nonce, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._sign(f"session:{expiry}.{nonce}")):
            return None
        if not expiry.isdigit() or int(expiry) < time.time():
            return None
        return nonce

    @staticmethod
    def user_of(nonce: str | None) -> str | None:
        """The name a verified session's nonce carries, or None."""
        if not nonce or USER_MARK not in nonce:
            return None
        raw = nonce.split(USER_MARK, 1)[1]
        try:
            return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode() or None
        except (ValueError, UnicodeDecodeError):
            return None

    def csrf(self, nonce: str) -> str:
        return self._sign("csrf:" + nonce)

    def csrf_ok(self, nonce: str | None, given: str | None) -> bool:
        return nonce is not None and given is not None and hmac.compare_digest(given, self.csrf(nonce))


def _cookies(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers:
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                name, _, val = part.strip().partition("=")
                out.setdefault(name, val)
    return out


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def bearer_ok(authorization: str | None, token: str) -> bool:
    """`Authorization: Bearer <token>`, the scheme in any case (RFC 9110 §11.1), compared in
    constant time so the answer's timing says nothing about how much of a guess was right."""
    if not authorization:
        return False
    scheme, _, given = authorization.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def safe_next(target: str | None) -> str:
    """Where to go after the login: a path on this service only (no //host, no scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# ---------------------------------------------------------------- headers


_INLINE = re.compile(rb"<(script|style)\b([^>]*)>(.*?)</\1\s*>", re.S | re.I)
_EXTERNAL = re.compile(rb"""<(?:script|link)\b[^>]*?\b(?:src|href)=["'](https://[^/"']+)""", re.I)


def content_security_policy(html: bytes) -> str:
    """A CSP for this page: no inline code except the blocks the page itself carries, each
    allowed by its hash (the report and the Aktenvermerk stay single files that print and
    save as they are); external scripts only from the origins the page names (the API docs).
    Personal values are autoescaped, so they cannot add a block."""
    scripts: list[str] = []
    styles: list[str] = []
    for kind, attrs, body in _INLINE.findall(html):
        if b"src=" in attrs.lower():
            continue
        digest = "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        (scripts if kind.lower() == b"script" else styles).append(digest)
    external = sorted({m.decode() for m in _EXTERNAL.findall(html)})
    parts = [
        "default-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "connect-src 'self'",
        "img-src 'self' data: " + " ".join(external),
        "style-src 'self' " + " ".join(styles + external),
        "script-src " + (" ".join(scripts + external) or "'none'"),
    ]
    if b' style="' in html:
        # Inline style attributes (the report's legend swatches) cannot run code.
        parts.append("style-src-attr 'unsafe-inline'")
    return "; ".join(p.strip() for p in parts)


COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


# ---------------------------------------------------------------- the middleware


class _Cut(Exception):
    """The request was answered by the guard itself (too large, too slow)."""


def _problem(status: int, title: str, detail: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    return status, [(b"content-type", b"application/problem+json")], body


def _html(status: int, text: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = (
        '<!DOCTYPE html><html lang="de"><head><meta charset="utf-8"><title>eligibility</title></head>'
        f"<body><p>{text}</p></body></html>"
    ).encode()
    return status, [(b"content-type", b"text/html; charset=utf-8")], body


class Guard:
    """Authentication, limits, headers and the access log around the whole app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        sessions: Sessions,
        limits: Limits,
        log_client: bool = False,
        secure_cookie: bool | None = None,
    ) -> None:
        self.app = app
        self.token = token
        self.sessions = sessions
        self.limits = limits
        self.log_client = log_client
        self.secure_cookie = secure_cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_seen = [0]
        try:
            await self._handle(scope, receive, send, status_seen)
        finally:
            self._log(scope, status_seen[0], time.perf_counter() - started)

    def _log(self, scope: Scope, status: int, seconds: float) -> None:
        # Method, path (never the query string) and status; the client only when asked for.
        client = ""
        if self.log_client and scope.get("client"):
            client = f" {scope['client'][0]}"
        access_log.info("%s %s %d %.1fms%s", scope["method"], scope["path"], status, seconds * 1000, client)

    def _access(self, scope: Scope) -> tuple[bool, str | None, tuple[int, list[tuple[bytes, bytes]], bytes] | None]:
        """(allowed, session nonce, the refusal to send)."""
        headers = scope["headers"]
        path: str = scope["path"]
        nonce = self.sessions.verify(_cookies(headers).get(SESSION_COOKIE)) if self.token else None
        if self.token is None or path in OPEN_PATHS:
            return True, nonce, None
        bearer = bearer_ok(_header(headers, b"authorization"), self.token)
        if path.startswith("/v1/") or path == "/v1":
            if bearer:
                return True, None, None
            status, hdrs, body = _problem(401, "Missing or wrong bearer token", "Authorization: Bearer <token>")
            return False, None, (status, hdrs + [(b"www-authenticate", b'Bearer realm="eligibility"')], body)
        if nonce is not None or (bearer and path in DOC_PATHS):
            return True, nonce, None
        if scope["method"] in ("GET", "HEAD"):
            target = quote(path, safe="/")
            return False, None, (303, [(b"location", f"{LOGIN_PATH}?weiter={target}".encode())], b"")
        return False, None, _html(401, 'Bitte zuerst <a href="/anmelden">anmelden</a>.')

    async def _handle(self, scope: Scope, receive: Receive, send: Send, status_seen: list[int]) -> None:
        allowed, nonce, refusal = self._access(scope)
        scope.setdefault("state", {})
        scope["state"]["session"] = nonce
        scope["state"]["secure_cookie"] = (
            self.secure_cookie if self.secure_cookie is not None else scope.get("scheme") == "https"
        )
        answered = [False]
        answered_by_app = [False]
        html_parts: list[bytes] = []
        start_message: list[Message] = []

        async def respond(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
            if answered[0]:
                return
            answered[0] = True
            if answered_by_app[0]:
                return  # the app's answer has begun; cutting the connection is all that is left
            await guarded_send(
                {"type": "http.response.start", "status": status, "headers": headers + [(b"connection", b"close")]}
            )
            await guarded_send({"type": "http.response.body", "body": body, "more_body": False})

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen[0] = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in (b"server", b"cache-control")
                ]
                headers += COMMON_HEADERS + [(b"cache-control", b"no-store")]
                message = dict(message, headers=headers)
                ctype = _header(headers, b"content-type") or ""
                if ctype.startswith("text/html"):
                    start_message.append(message)  # sent with the CSP once the body is complete
                    return
                if not any(k == b"content-security-policy" for k, _ in headers):
                    headers.append((b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"))
            elif message["type"] == "http.response.body" and start_message:
                html_parts.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                html = b"".join(html_parts)
                first = start_message.pop()
                csp = content_security_policy(html).encode()
                await send(dict(first, headers=list(first["headers"]) + [(b"content-security-policy", csp)]))
                message = {"type": "http.response.body", "body": html, "more_body": False}
            await send(message)

        if not allowed:
            assert refusal is not None
            await respond(*refusal)
            return
        length = _header(scope["headers"], b"content-length")
        if length is not None:
            if not length.isdigit():
                await respond(*_problem(400, "Bad Content-Length", "not a number"))
                return
            if int(length) > self.limits.max_body:
                await respond(*_too_large(self.limits.max_body))
                return

        has_body = (length is not None and length != "0") or _header(scope["headers"], b"transfer-encoding") is not None
        received = 0
        body_done = False
        deadline = time.monotonic() + self.limits.body_seconds

        async def counting_receive() -> Message:
            nonlocal received, body_done
            if answered[0]:
                return {"type": "http.disconnect"}
            if body_done:
                # After the body, the app only listens for the client going away: no clock.
                return await receive()
            timeout = min(self.limits.idle_seconds, max(0.0, deadline - time.monotonic()))
            try:
                message = await asyncio.wait_for(receive(), timeout)
            except TimeoutError:
                await respond(*_problem(408, "Request body too slow", "the body did not arrive in time"))
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limits.max_body:
                    await respond(*_too_large(self.limits.max_body))
                    return {"type": "http.disconnect"}
                if not message.get("more_body", False):
                    body_done = True
            return message

        async def app_send(message: Message) -> None:
            if answered[0]:
                return  # the guard has answered; what the app says afterwards goes nowhere
            if message["type"] == "http.response.start":
                answered_by_app[0] = True
                if has_body and not body_done:
                    # Answered before the body was read (an error): close afterwards, or the
                    # server would go on reading and discarding whatever the client sends.
                    message = dict(message, headers=list(message.get("headers", [])) + [(b"connection", b"close")])
            await guarded_send(message)

        try:
            await self.app(scope, counting_receive, app_send)
        except Exception as exc:
            if answered[0]:
                return  # the app failed because the guard cut its body: already answered
            status_seen[0] = status_seen[0] or 500
            # An exception the app's handlers did not answer would reach the server, where
            # uvicorn prints the whole traceback — which can quote values of the record. The type
            # is logged, the traceback only at debug level, and the answer is a problem.
            internal_log.error("internal error: %s", type(exc).__name__)
            internal_log.debug("internal error", exc_info=exc)
            await respond(*_problem(500, "Internal error", ""))


def _too_large(limit: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return _problem(413, "Request body too large", f"at most {limit} bytes")


def set_cookie_header(name: str, value: str, max_age: int, secure: bool) -> str:
    """HttpOnly (no script reads it), SameSite=Strict (no other site sends it along)."""
    parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
