"""Sign-in for the search page: a signed cookie in place of a bearer header.

A browser cannot add an Authorization header to a link it follows, so where reads
need a token the pages accept a cookie instead, set by signing in with a configured
token. The cookie contains an expiry time and an HMAC-SHA256 of it, keyed by a key
derived from that token, never the token itself. It is valid in every process that
has the same tokens, also after a restart, and removing the token from the
configuration ends its sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Sequence
from contextvars import ContextVar
from urllib.parse import unquote

COOKIE_NAME = "incident_page_session"
# A random value set with the sign-in form and sent back in it. The cookie is
# SameSite=Strict, so a form on another site cannot send it, and so cannot
# sign a browser in or out.
FORM_COOKIE_NAME = "incident_page_form"
# The cookie is sent to the pages only, never to the API.
COOKIE_PATH = "/ui/"
# One on-call shift.
SESSION_SECONDS = 12 * 3600
SIGN_IN_PATH = "/ui/sign-in"
SIGN_OUT_PATH = "/ui/sign-out"
_KEY_LABEL = b"incident-recommender search page session v1"
# Set while a page request runs on a signed-in session, so that pages offer to
# sign out. Each request runs in its own copy of the context.
signed_in: ContextVar[bool] = ContextVar("signed_in", default=False)
_EXPIRES = re.compile(r"[0-9]{1,12}")
_FORM_KEY = re.compile(r"[A-Za-z0-9_-]{22,64}")


def new_session(token: bytes, now: float | None = None) -> str:
    """Return the cookie value of a session signed in with token."""
    expires = int(now if now is not None else time.time()) + SESSION_SECONDS
    return f"{expires}.{_signature(token, expires)}"


def session_valid(
    tokens: Sequence[bytes], value: str, now: float | None = None
) -> bool:
    """Return whether a cookie value is an unexpired session of one of tokens."""
    expires_text, _, signature = value.partition(".")
    # ASCII digits only: str.isdigit() also accepts "²", which int() rejects.
    if not _EXPIRES.fullmatch(expires_text) or not signature.isascii():
        return False
    expires = int(expires_text)
    moment = now if now is not None else time.time()
    # new_session() never sets a later expiry than a new session would get.
    if not moment < expires <= moment + SESSION_SECONDS:
        return False
    # Every token is compared, so the time taken shows none of them.
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(_signature(token, expires), signature)
    return matched


def new_form_key() -> str:
    """Return a random value for the sign-in form and its cookie."""
    return secrets.token_urlsafe(24)


def form_key_valid(cookie: str, submitted: str) -> bool:
    """Return whether a submitted form key is the one of the browser's cookie."""
    if not _FORM_KEY.fullmatch(cookie) or not submitted.isascii():
        return False
    return hmac.compare_digest(cookie, submitted)


def safe_next(path: str) -> str:
    """Return path when it is a page of this service to go to, else the search page.

    Only paths under /ui/ are kept, without "." or ".." segments or empty ones,
    so a link to the sign-in page cannot send a browser to another site or
    another part of this one after it signs in.
    """
    route = path.split("?", 1)[0]
    segments = route.split("/")[1:-1] if route.endswith("/") else route.split("/")[1:]
    if (
        path.startswith("/ui/")
        and not route.startswith((SIGN_IN_PATH, SIGN_OUT_PATH))
        and path.isascii()
        and path.isprintable()
        and "\\" not in path
        and len(path) <= 2_000
        # Browsers read %2e%2e as "..", so segments are compared decoded.
        and all(unquote(segment) not in ("", ".", "..") for segment in segments)
    ):
        return path
    return "/ui/"


def _signature(token: bytes, expires: int) -> str:
    key = hmac.new(token, _KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, str(expires).encode("ascii"), hashlib.sha256).hexdigest()
