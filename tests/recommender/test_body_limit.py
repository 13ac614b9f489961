"""The body limit middleware on bodies without Content-Length."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from recommender.body_limit import BodyLimitMiddleware
from recommender.http_errors import install_error_handlers

LIMIT = 1_000


class Note(BaseModel):
    text: str


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=LIMIT)

    @app.post("/notes")
    def add_note(note: Note) -> dict[str, int]:
        return {"characters": len(note.text)}

    with TestClient(app) as test_client:
        yield test_client


def _chunks(size: int) -> Iterator[bytes]:
    body = b'{"text": "' + b"a" * size + b'"}'
    for start in range(0, len(body), 300):
        yield body[start : start + 300]


def test_declared_body_over_limit_is_413(client):
    response = client.post(
        "/notes",
        content=_chunks(2 * LIMIT),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert f"limit of {LIMIT} bytes" in error["message"]


def test_chunked_body_under_limit_passes(client):
    response = client.post(
        "/notes",
        content=_chunks(LIMIT // 2),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {"characters": LIMIT // 2}
