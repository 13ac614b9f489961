"""An embedder that keeps the vectors it computed in a file, for repeated runs.

The evaluation embeds the same runbooks, rules and postmortems on every run, so with
a cache file the second run embeds only texts it has not seen. The cache is keyed by
the model name and the exact text, so a different model never reuses vectors.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from pathlib import Path

import numpy as np

from indexer.embedding import DEFAULT_MODEL, Embedder

logger = logging.getLogger(__name__)


class CachedEmbedder(Embedder):
    """An Embedder that reads and writes its vectors through a pickle file.

    Loading a pickle runs code from the file, so pass only a file this class wrote.
    """

    def __init__(self, path: Path, model: str | None = None) -> None:
        super().__init__(model or DEFAULT_MODEL)
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path.is_file():
            with path.open("rb") as handle:
                self.vectors = pickle.load(handle)
            logger.info("read %d cached vectors from %s", len(self.vectors), path)
        self._unsaved = 0

    def embed(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Embed the texts not in the cache and return all vectors in order."""
        keys = [self._key(text) for text in texts]
        pairs = zip(texts, keys, strict=True)
        missing = list(dict.fromkeys(t for t, k in pairs if k not in self.vectors))
        if missing:
            computed = super().embed(missing, show_progress)
            for text, vector in zip(missing, computed, strict=True):
                self.vectors[self._key(text)] = vector
            self._unsaved += len(missing)
        if not texts:
            return super().embed(texts)
        return np.stack([self.vectors[key] for key in keys]).astype(np.float32)

    def save(self) -> None:
        """Write new vectors to the cache file: a temporary file, then a rename."""
        if not self._unsaved:
            return
        partial = self.path.with_suffix(".partial")
        with partial.open("wb") as handle:
            pickle.dump(self.vectors, handle)
        partial.replace(self.path)
        self._unsaved = 0

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model_name}\n{text}".encode()).hexdigest()
