"""The FAISS index over passage vectors, keyed by passage id, saved atomically."""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from indexer.errors import KnowledgeBaseError

logger = logging.getLogger(__name__)

# Exact search answers a query over 200k vectors in a few milliseconds on one core
# (an estimate for 384 dimensions); beyond it an IVF index keeps queries fast.
EXACT_SEARCH_LIMIT = 200_000
IVF_NPROBE = 32


@dataclass(frozen=True)
class IndexInfo:
    """What a saved index reflects, stored beside it as JSON."""

    data_version: int
    model: str
    dimension: int
    count: int
    index_type: str


class VectorIndex:
    """Passage vectors in FAISS with explicit ids, so ids never depend on positions.

    Scores are inner products of L2-normalised vectors: cosine similarity in
    [-1, 1], higher is closer.
    """

    def __init__(self, index: faiss.Index, info: IndexInfo) -> None:
        self.index = index
        self.info = info

    @classmethod
    def create(
        cls, dimension: int, model: str, sample: np.ndarray | None = None
    ) -> VectorIndex:
        """Create an empty index, exact or IVF depending on how many vectors come.

        Args:
            dimension: Vector length.
            model: Embedding model name, stored so vectors of two models never mix.
            sample: The vectors about to be added; an IVF index is trained on them.
        """
        count = 0 if sample is None else len(sample)
        if count <= EXACT_SEARCH_LIMIT or sample is None:
            index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
            index_type = "flat"
        else:
            nlist = int(4 * math.sqrt(count))
            quantizer = faiss.IndexFlatIP(dimension)
            ivf = faiss.IndexIVFFlat(
                quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT
            )
            ivf.train(sample)
            ivf.nprobe = IVF_NPROBE
            index = ivf
            index_type = f"ivf{nlist}"

        info = IndexInfo(
            data_version=0,
            model=model,
            dimension=dimension,
            count=0,
            index_type=index_type,
        )
        return cls(index, info)

    @property
    def size(self) -> int:
        """Return the number of vectors in the index."""
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given passage ids."""
        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32),
                np.asarray(ids, dtype=np.int64),
            )

    def remove(self, ids: list[int]) -> int:
        """Remove vectors by passage id; returns how many were removed."""
        if not ids:
            return 0
        selector = faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64))
        return int(self.index.remove_ids(selector))

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Return up to k (passage id, cosine similarity) pairs, best first.

        FAISS pads a short result with id -1; those never become matches.
        """
        if self.size == 0 or k <= 0:
            return []
        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        scores, ids = self.index.search(query, min(k, self.size))
        return [
            (int(i), float(s))
            for i, s in zip(ids[0], scores[0], strict=True)
            if i != -1
        ]

    def save(self, path: Path, data_version: int) -> None:
        """Write the index and its info atomically: temporary files, then rename.

        The info file is renamed last, so a reader that sees a new data version
        always finds the index file of that version or newer.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        self.info = IndexInfo(
            data_version=data_version,
            model=self.info.model,
            dimension=self.info.dimension,
            count=self.size,
            index_type=self.info.index_type,
        )
        index_tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self.index, str(index_tmp))
        _fsync(index_tmp)
        os.replace(index_tmp, path)

        info_path = info_path_for(path)
        info_tmp = info_path.with_name(info_path.name + ".tmp")
        info_tmp.write_text(json.dumps(asdict(self.info), indent=2))
        _fsync(info_tmp)
        os.replace(info_tmp, info_path)

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read an index saved by save(); raises KnowledgeBaseError when unreadable."""
        info_path = info_path_for(path)
        if not path.is_file() or not info_path.is_file():
            raise KnowledgeBaseError(f"no vector index at {path}")
        try:
            info = IndexInfo(**json.loads(info_path.read_text()))
            index = faiss.read_index(str(path))
        except (OSError, ValueError, TypeError, RuntimeError) as error:
            raise KnowledgeBaseError(
                f"vector index at {path} is unreadable: {error}"
            ) from error
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = IVF_NPROBE
        if index.ntotal != info.count or index.d != info.dimension:
            raise KnowledgeBaseError(
                f"vector index at {path} holds {index.ntotal} vectors of dimension "
                f"{index.d}, but its info file says {info.count} of {info.dimension}"
            )
        return cls(index, info)


def info_path_for(path: Path) -> Path:
    """Return the path of the JSON info file saved beside an index."""
    return path.with_name(path.name + ".json")


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
