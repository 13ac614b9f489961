"""A chromadb embedding function that embeds with the product's own Embedder.

Without one, chromadb falls back to its default embedding function, which downloads
an ONNX copy of all-MiniLM-L6-v2 on first use. With this one, query texts are
embedded by the same local model as the product's passages, loaded once per process.
Import this module only when chromadb is installed (the `bench` extra).
"""

from __future__ import annotations

from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from indexer.embedding import Embedder

# One Embedder per model name, so a collection that chromadb rebuilds from its stored
# configuration reuses the model that is already loaded.
_EMBEDDERS: dict[str, Embedder] = {}


def shared_embedder(model: str) -> Embedder:
    """Return the process's Embedder for a model, creating it on first use."""
    if model not in _EMBEDDERS:
        _EMBEDDERS[model] = Embedder(model)
    return _EMBEDDERS[model]


@register_embedding_function
class IncidentEmbeddingFunction(EmbeddingFunction[Documents]):
    """Embeds documents and query texts with an indexer Embedder, L2-normalised."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        _EMBEDDERS.setdefault(embedder.model_name, embedder)

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.embedder.embed(list(input)))

    @staticmethod
    def name() -> str:
        return "incident-recommender"

    def get_config(self) -> dict[str, Any]:
        return {"model": self.embedder.model_name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> IncidentEmbeddingFunction:
        return IncidentEmbeddingFunction(shared_embedder(str(config["model"])))

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip"]
