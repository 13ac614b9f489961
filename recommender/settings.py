"""Settings of the recommendation service, from INCIDENT_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import uvicorn
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from indexer.settings import IndexerSettings
from indexer.threads import available_cores
from recommender.recommendation import DEFAULT_THRESHOLD

# Maximum size of the request line plus headers that uvicorn reads. A search of
# 10,000 characters takes up to 120 KB once percent-encoded (12 bytes each), more
# than the default of 16 KiB, and uvicorn returns a bare 400 for a longer head.
MAX_REQUEST_HEAD_BYTES = 256 * 1024


class ServiceSettings(IndexerSettings):
    """Knowledge base location plus how the service recommends and listens."""

    threshold: float = Field(
        default=DEFAULT_THRESHOLD,
        ge=0.0,
        le=1.0,
        description="Match score below which an alert has no close precedent.",
    )
    default_top_k: int = Field(default=5, ge=1, le=100, description="Matches returned.")
    max_top_k: int = Field(
        default=100, ge=1, le=1000, description="Largest top_k allowed."
    )
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(
        default=8080, ge=1, le=65535, description="Port the API listens on."
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest request body accepted, in bytes.",
    )
    max_pending: int = Field(
        default=64,
        ge=1,
        description=(
            "Alerts that may be computing or waiting for recommendations at "
            "once; a request that would pass it gets 503 with a Retry-After "
            "header. A larger group is admitted only when none are waiting."
        ),
    )
    inference_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description=(
            "Threads that compute recommendations. Searches of one process take "
            "turns on the vector index, so more threads mostly wait."
        ),
    )
    body_timeout: float = Field(
        default=30.0,
        gt=0.0,
        description=(
            "Seconds a request may take to send its whole body; a slower one gets "
            "408 and its connection is closed."
        ),
    )
    keep_alive_timeout: int = Field(
        default=5,
        ge=1,
        description="Seconds an idle keep-alive connection stays open (uvicorn).",
    )
    limit_concurrency: int = Field(
        default=1000,
        ge=1,
        description=(
            "Connections and requests uvicorn serves at once; more requests get "
            "503 from uvicorn."
        ),
    )
    alerts_database: Path | None = Field(
        default=None,
        description=(
            "SQLite file of received alerts and their recommendations; "
            "alerts.db in home when not set."
        ),
    )
    config: Path | None = Field(
        default=None,
        description=(
            "YAML file with the severity scale, responders, notification channels "
            "and status update templates; built-in defaults without it."
        ),
    )
    api_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description=(
            "Bearer tokens that may call write endpoints, comma-separated; write "
            "endpoints are disabled when neither this nor api_token_file is set."
        ),
    )
    api_token_file: Path | None = Field(
        default=None,
        description="File with one bearer token a line, read at start-up.",
    )
    read_access: Literal["auto", "open", "token"] = Field(
        default="auto",
        description=(
            "Who may call read endpoints: open, token, or auto (open when the API "
            "listens on a loopback address, token otherwise)."
        ),
    )
    sources: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Source folders that POST /v1/reindex syncs, comma-separated.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log line format: text, or one JSON object."
    )
    ready_wait: float = Field(
        default=10.0,
        ge=0.0,
        le=3600.0,
        allow_inf_nan=False,
        description=(
            "Seconds a request that arrives during start-up waits for the model "
            "and index before it gets 503."
        ),
    )

    @model_validator(mode="after")
    def _threads_per_worker(self) -> ServiceSettings:
        """Share the cores among inference workers unless threads is set."""
        if self.threads is None:
            self.threads = max(1, available_cores() // self.inference_workers)
        return self

    @field_validator("api_tokens", "sources", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        """Split a comma-separated environment value into a list."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def uvicorn_config(self, app: object, **options: Any) -> uvicorn.Config:
        """Return uvicorn's configuration for app, the same for every way of serving."""
        return uvicorn.Config(
            app,  # type: ignore[arg-type]
            host=self.host,
            port=self.port,
            timeout_keep_alive=self.keep_alive_timeout,
            limit_concurrency=self.limit_concurrency,
            # Always h11, so that the head limit applies. uvicorn picks httptools
            # when it is installed (chromadb pulls it in), and httptools returned
            # a bare 400 for the longest allowed search.
            http="h11",
            h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
            **options,
        )
