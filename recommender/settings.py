"""Settings of the recommendation service, from INCIDENT_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from indexer.settings import IndexerSettings
from recommender.recommendation import DEFAULT_THRESHOLD


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
    config: Path | None = Field(
        default=None,
        description=(
            "YAML file with the severity scale, responders, notification channels "
            "and status update templates; built-in defaults without it."
        ),
    )
