"""The FAISS index over passage vectors, keyed by passage id, saved atomically."""

from __future__ import annotations

import json
import logging
import math
import os
import struct
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import faiss
import numpy as np

from indexer.errors import KnowledgeBaseError

logger = logging.getLogger(__name__)

# First bytes of an index file: name and format version.
_MAGIC = b"INCIDENT-FAISS-1\n"

# Exact search over 200k vectors of 384 dimensions takes a few milliseconds per query
# on one core (an estimate, not measured here); beyond it an IVF index is used.
EXACT_SEARCH_LIMIT = 200_000
IVF_NPROBE = 32


@dataclass(frozen=True)
class IndexInfo:
    """The data version, model and size of a saved index, stored in its file."""

    data_version: int
    model: str
    dimension: int
    count: int
    index_type: str
    max_passage_id: int = 0


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

    def ids(self) -> np.ndarray:
        """Return every passage id in the index (exact indexes only)."""
        if not isinstance(self.index, faiss.IndexIDMap2):
            raise NotImplementedError("listing ids needs an exact (flat) index")
        return faiss.vector_to_array(self.index.id_map)

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

    def catch_up(
        self,
        data_version: int,
        removed: list[int],
        ids: np.ndarray,
        vectors: np.ndarray,
    ) -> None:
        """Apply the changes made after this index's data version, in place."""
        self.remove(removed)
        self.add(ids, vectors)
        max_id = int(ids.max()) if len(ids) else self.info.max_passage_id
        self.info = replace(
            self.info,
            data_version=data_version,
            count=self.size,
            max_passage_id=max(max_id, self.info.max_passage_id),
        )

    def save(self, path: Path) -> None:
        """Write the index and its info atomically: one temporary file, then rename.

        Info and vectors share one file, so a reader never pairs the vectors of one
        version with the info of another, and a killed writer leaves the old file.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        self.info = replace(self.info, count=self.size)
        header = json.dumps(asdict(self.info)).encode()
        body = faiss.serialize_index(self.index)

        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(_MAGIC + struct.pack("<I", len(header)) + header)
            handle.write(body.tobytes())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    @staticmethod
    def read_info(path: Path) -> IndexInfo:
        """Read only the header of a saved index, without loading its vectors."""
        try:
            with open(path, "rb") as handle:
                head = handle.read(len(_MAGIC) + 4)
                if not head.startswith(_MAGIC):
                    raise ValueError("not a vector index file of this version")
                (length,) = struct.unpack("<I", head[len(_MAGIC) :])
                return IndexInfo(**json.loads(handle.read(length)))
        except (OSError, ValueError, TypeError, struct.error) as error:
            raise KnowledgeBaseError(
                f"vector index at {path} is unreadable: {error}"
            ) from error

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read an index saved by save(); raises KnowledgeBaseError when unreadable."""
        if not path.is_file():
            raise KnowledgeBaseError(f"no vector index at {path}")
        try:
            data = path.read_bytes()
            if not data.startswith(_MAGIC):
                raise ValueError("not a vector index file of this version")
            offset = len(_MAGIC) + 4
            (length,) = struct.unpack("<I", data[len(_MAGIC) : offset])
            info = IndexInfo(**json.loads(data[offset : offset + length]))
            body = np.frombuffer(data, dtype=np.uint8, offset=offset + length)
            index = faiss.deserialize_index(body)
        except (OSError, ValueError, TypeError, RuntimeError, struct.error) as error:
            raise KnowledgeBaseError(
                f"vector index at {path} is unreadable: {error}"
            ) from error
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = IVF_NPROBE
        if index.ntotal != info.count or index.d != info.dimension:
            raise KnowledgeBaseError(
                f"vector index at {path} contains {index.ntotal} vectors of dimension "
                f"{index.d}, but its header says {info.count} of {info.dimension}"
            )
        return cls(index, info)
