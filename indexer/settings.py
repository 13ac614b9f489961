"""Settings of the knowledge base, read from INCIDENT_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from indexer.embedding import DEFAULT_MODEL
from indexer.errors import ConfigurationError

# Folder under home where Markdown records added over the API are saved.
UPLOADS_FOLDER = "uploads"


class IndexerSettings(BaseSettings):
    """Where the knowledge base lives and which model embeds it."""

    model_config = SettingsConfigDict(env_prefix="INCIDENT_", extra="ignore")

    home: Path = Field(
        default=Path("var"),
        description="Folder for the database and the vector index.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the database; defaults to SQLite in home.",
    )
    model: str = Field(
        default=DEFAULT_MODEL,
        description="Embedding model: all-MiniLM-L6-v2 (bundled) or a local folder.",
    )
    lock_timeout: float = Field(
        default=60.0,
        ge=0.0,
        description="Seconds a writer waits for another writer before giving up.",
    )
    batch_size: int = Field(
        default=64, ge=1, le=4096, description="Embedding batch size."
    )
    onnx: bool = Field(
        default=True,
        description=(
            "Embed alerts and searches through ONNX Runtime, from an export of the "
            "model made once and kept in INCIDENT_CACHE; false keeps them on torch."
        ),
    )
    quantized_queries: bool = Field(
        default=True,
        description=(
            "Embed alerts and searches with an int8 copy of the ONNX export, about "
            "twice as fast; the stored passages keep float32 vectors. false embeds "
            "them with the float32 export."
        ),
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description=(
            "CPU threads for embedding and vector search; by default every core "
            "for indexing, and cores divided by inference workers in the API."
        ),
    )

    @property
    def resolved_database_url(self) -> str:
        """Return database_url, or the SQLite file in home when it is not set."""
        return self.database_url or f"sqlite:///{self.home / 'knowledge.db'}"

    @property
    def index_path(self) -> Path:
        """Return the path of the FAISS index file."""
        return self.home / "passages.faiss"


SettingsT = TypeVar("SettingsT", bound=BaseSettings)

# The value to set instead, by pydantic error type, for messages that omit it.
_VALUE_HINTS = {
    "bool_parsing": "set it to true or false (1 or 0, yes or no, on or off also "
    "work), or unset it for the default",
    "int_parsing": "set it to a whole number, or unset it for the default",
    "float_parsing": "set it to a number, or unset it for the default",
}


def load_settings(settings_class: type[SettingsT], **overrides: Any) -> SettingsT:
    """Read settings from the environment; invalid values raise ConfigurationError.

    The error names each environment variable, the problem and the value given, in
    place of pydantic's traceback.
    """
    try:
        return settings_class(**overrides)
    except ValidationError as error:
        prefix = str(settings_class.model_config.get("env_prefix", ""))
        problems = []
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "settings"
            hint = _VALUE_HINTS.get(item["type"], "")
            problems.append(
                f"{prefix}{name.upper()}: {item['msg']} (got {item.get('input')!r})"
                + (f"; {hint}" if hint else "")
            )
        raise ConfigurationError("invalid setting: " + "; ".join(problems)) from error
