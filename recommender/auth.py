"""Bearer-token access control: who may change the knowledge base, and who may read.

Status codes: a request without a bearer token gets 401 with
`WWW-Authenticate: Bearer`. A token that matches none of the configured ones gets
401 too, with `error="invalid_token"` as RFC 6750 (section 3.1) specifies. A server
with no token configured rejects write requests with 403, so writes are never open
by accident.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from dataclasses import dataclass

from fastapi import Request

from indexer.errors import ConfigurationError
from recommender import page_session
from recommender.http_errors import ApiError
from recommender.settings import ServiceSettings

logger = logging.getLogger(__name__)

# Shorter tokens can be guessed; 16 characters of token_urlsafe carry 96 bits.
MIN_TOKEN_CHARS = 16
# Authorization headers longer than this are rejected without comparing them.
MAX_HEADER_CHARS = 4096
_COMMENT = re.compile(r"(?:^|\s)#.*")
# The maximum token length that fits in such a header after "Bearer ".
MAX_TOKEN_CHARS = MAX_HEADER_CHARS - len("Bearer ")
TOKEN_HINT = (
    "set INCIDENT_API_TOKENS (comma-separated) or INCIDENT_API_TOKEN_FILE (one token "
    "a line) and restart; make a token with "
    "'python -c \"import secrets; print(secrets.token_urlsafe(32))\"'"
)


@dataclass(frozen=True)
class AccessPolicy:
    """The accepted tokens and whether read endpoints need one.

    Attributes:
        tokens: Accepted bearer tokens, UTF-8 encoded.
        reads_need_token: True when read endpoints require a token too.
    """

    tokens: tuple[bytes, ...]
    reads_need_token: bool

    def __repr__(self) -> str:
        # The default repr would print the tokens.
        return (
            f"AccessPolicy(tokens=<{len(self.tokens)} hidden>, "
            f"reads_need_token={self.reads_need_token})"
        )


def load_policy(settings: ServiceSettings) -> AccessPolicy:
    """Read the tokens from settings and the token file; reject unusable ones.

    Raises:
        ConfigurationError: The token file cannot be read or has no token, or
            tokens are unusable. The message names each by its place, never by
            its value.
    """
    named = [
        (f"item {position} of INCIDENT_API_TOKENS", token.get_secret_value())
        for position, token in enumerate(settings.api_tokens, start=1)
    ]
    if settings.api_token_file is not None:
        named.extend(_read_token_file(settings))

    problems = [
        f"the token at {origin} {problem}"
        for origin, token in named
        if (problem := _token_problem(token.strip()))
    ]
    if problems:
        raise ConfigurationError("; ".join(problems) + f". {TOKEN_HINT}")
    # A token given twice is one token.
    tokens = list(dict.fromkeys(token.strip().encode("ascii") for _, token in named))

    reads_need_token = settings.read_access == "token" or (
        settings.read_access == "auto" and not is_loopback(settings.host)
    )
    if not reads_need_token and not is_loopback(settings.host):
        logger.warning(
            "read endpoints are open to anyone who can reach %s; set "
            "INCIDENT_READ_ACCESS=token to require a bearer token for reads",
            settings.host,
        )
    logger.info(
        "access: %d bearer token(s) configured, write endpoints %s, read endpoints %s",
        len(tokens),
        "enabled" if tokens else "disabled",
        "require a token" if reads_need_token else "open",
    )
    return AccessPolicy(tokens=tuple(tokens), reads_need_token=reads_need_token)


def _token_problem(token: str) -> str | None:
    """Return what makes a token unusable, or None."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"has {len(token)} characters; use at least {MIN_TOKEN_CHARS}"
    # A longer one would not fit in an Authorization header the server reads.
    if len(token) > MAX_TOKEN_CHARS:
        return f"has {len(token)} characters; use at most {MAX_TOKEN_CHARS}"
    # Clients send headers in Latin-1 or UTF-8, so only printable ASCII
    # without spaces reaches the server as it was written.
    if not (token.isascii() and token.isprintable()) or any(
        character.isspace() for character in token
    ):
        return (
            "has a space or a character outside printable ASCII; use letters, "
            "digits and punctuation"
        )
    return None


def is_loopback(host: str) -> bool:
    """Return whether host names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The checks are async although nothing in them waits: FastAPI runs a plain function
# dependency on a worker thread, and the hop cost each request about 0.2 ms.
async def require_write_token(request: Request) -> None:
    """Let the request through only with a valid bearer token (FastAPI dependency)."""
    _check_token(request, "write")


async def require_read_token(request: Request) -> None:
    """Check the bearer token of a read request when the policy requires one.

    Where reads are open, a bearer token that is sent is still checked when
    tokens are configured: a mistyped token in Alertmanager's receiver would
    otherwise work until the service moves off loopback.
    """
    policy: AccessPolicy = request.app.state.access
    if policy.reads_need_token:
        _check_token(request, "read")
        return
    scheme = request.headers.get("authorization", "").split(None, 1)[:1]
    if policy.tokens and scheme and scheme[0].lower() == "bearer":
        _check_token(request, "read")


async def require_page_access(request: Request) -> None:
    """Let a page request through with a bearer token or a signed-in session.

    Without either, where reads need a token, it raises a 401 that the error
    handlers turn into a redirect to the sign-in page.
    """
    policy: AccessPolicy = request.app.state.access
    if not policy.reads_need_token:
        return
    # Only a bearer header is checked as a token. A proxy in front may send its
    # own Authorization header (HTTP Basic), and the cookie still counts then.
    scheme = request.headers.get("authorization", "").split(None, 1)[:1]
    if scheme and scheme[0].lower() == "bearer":
        _check_token(request, "read")
        return
    cookie = request.cookies.get(page_session.COOKIE_NAME, "")
    if cookie and page_session.session_valid(policy.tokens, cookie):
        page_session.signed_in.set(True)
        return
    raise ApiError(
        401,
        "unauthorized",
        "sign in with an API token to read this page",
        "authorization",
    )


def token_matches(policy: AccessPolicy, presented: str) -> bytes | None:
    """Return the configured token that presented equals, or None.

    Every token is compared in constant time, so the time taken shows no prefix.
    """
    candidate = presented.encode("utf-8", errors="replace")
    found = None
    for token in policy.tokens:
        if hmac.compare_digest(token, candidate):
            found = token
    return found


def _check_token(request: Request, purpose: str) -> None:
    policy: AccessPolicy = request.app.state.access
    if not policy.tokens:
        raise ApiError(
            403,
            "forbidden",
            f"{purpose} endpoints are disabled because no API token is configured; "
            + TOKEN_HINT,
            "authorization",
        )

    header = request.headers.get("authorization", "")
    # Split on any whitespace, so "Bearer<TAB>TOKEN" is read as a bearer token.
    parts = header.split(None, 1)
    scheme = parts[0] if parts else ""
    presented = parts[1] if len(parts) > 1 else ""
    if not header or scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(
            401,
            "unauthorized",
            "missing bearer token: send 'Authorization: Bearer TOKEN'",
            "authorization",
            headers={"WWW-Authenticate": 'Bearer realm="incident-recommender"'},
        )
    presented = presented.strip()
    if len(presented) > MAX_TOKEN_CHARS or not _matches(policy, presented):
        raise ApiError(
            401,
            "unauthorized",
            "the bearer token is not valid; check it against INCIDENT_API_TOKENS "
            "or INCIDENT_API_TOKEN_FILE of the server",
            "authorization",
            headers={
                "WWW-Authenticate": (
                    'Bearer realm="incident-recommender", error="invalid_token"'
                )
            },
        )


def _matches(policy: AccessPolicy, presented: str) -> bool:
    return token_matches(policy, presented) is not None


def _read_token_file(settings: ServiceSettings) -> list[tuple[str, str]]:
    path = settings.api_token_file
    assert path is not None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(
            f"cannot read INCIDENT_API_TOKEN_FILE {path}: {error}; give a readable "
            "UTF-8 file with one token a line"
        ) from error
    tokens = []
    for number, line in enumerate(lines, start=1):
        # An editor's byte order mark, and a comment: "#" at the start of the
        # line or after a space, so a token may still contain "#".
        token = _COMMENT.sub("", line.removeprefix("\ufeff")).strip()
        if token:
            tokens.append((f"line {number} of INCIDENT_API_TOKEN_FILE {path}", token))
    if not tokens:
        # An empty secret mount would otherwise turn writes off in silence.
        raise ConfigurationError(
            f"INCIDENT_API_TOKEN_FILE {path} has no token; put one token a line "
            "in it, or unset INCIDENT_API_TOKEN_FILE"
        )
    return tokens
