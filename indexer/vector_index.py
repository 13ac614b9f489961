"""The FAISS index over passage vectors, keyed by passage id, saved atomically.

The index type depends on how many passages there are when it is built. The
figures below come from `python -m benchmarks.index_recall` on all-MiniLM-L6-v2
vectors of 384 dimensions, on a shared 2-core machine (docs/BENCHMARKS.md, section
"Index type by size"):

- Up to EXACT_SEARCH_LIMIT passages: exact search with `IndexIDMap2(IndexFlatIP)`,
  1,544 bytes per vector with its id. Its search time grows with the vector count,
  and one search over 30,000 vectors took a median 4.3 ms on one thread.
- Above it: an inverted file index with a 4-bit scalar quantizer, "IVF{nlist},SQ4"
  in FAISS factory terms, about 201 bytes per vector with its id. nlist is
  4 sqrt(n), at most IVF_MAX_LISTS and at most one list per
  TRAINING_VECTORS_PER_LIST passages. It is trained on TRAINING_VECTORS_PER_LIST
  random vectors per list, and each query searches IVF_NPROBE lists. With
  6,700,000 passages (1,000,000 records) the file is 1.35 GB, and a process with
  the model and this index peaked at 1.8 GiB.

The IVF scores are approximate: on synthetic vectors the index's own top 10
contained 0.47 of the exact top 10. Retrieval requests the top 200 passages from
the index and then scores every passage of the candidate records exactly from the
stored vectors, so the IVF index only has to bring the right passages into those
200. After that rescoring, recall@10 against exact search was 0.988 at 6,700,000
passages and 0.999 at 670,000, from nprobe 16 up.

Passages are added to and removed from an index in place, so it keeps the type
chosen when it was built until outgrown() finds it too far from the type its
size calls for. The writer then rebuilds it from the stored vectors.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import struct
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from indexer.errors import KnowledgeBaseError

logger = logging.getLogger(__name__)

# First bytes of an index file: name and format version.
_MAGIC = b"INCIDENT-FAISS-1\n"

EXACT_SEARCH_LIMIT = 30_000
# SQ6 and SQ8 found more of the exact top 10 by themselves, but at 6.7M passages
# their index alone would take about 2.0 and 2.6 GB.
IVF_ENCODING = "SQ4"
# k-means training time grows with nlist times the training sample.
IVF_MAX_LISTS = 4_096
# NOTE: recall stopped growing at nprobe 16 on synthetic vectors, noisy copies of a
# few hundred passages. Real passages spread more, so 32 is a margin, not measured.
IVF_NPROBE = 32
# FAISS warns when k-means gets fewer than 39 training vectors per centroid.
TRAINING_VECTORS_PER_LIST = 40
# How far an index may grow or shrink past the bound of its type before it is
# rebuilt, so that a knowledge base near a bound does not switch at every write.
# An exact index is kept up to 37,500 passages (one search took 4.3 ms at 30,000
# and 9.6 ms at 50,000 on one thread), an IVF index down to 24,000. An IVF index
# is rebuilt when its size calls for twice its lists, that is after its passages
# grew fourfold, which keeps the lists a search scans at most four times their
# planned length. So the sizes of successive rebuilds grow fourfold, and all
# rebuilds before one cost about a third of it together.
TYPE_MARGIN = 1.25
LIST_GROWTH = 2


@dataclass(frozen=True)
class IndexPlan:
    """The FAISS index type for a number of passages, with its IVF parameters.

    Attributes:
        index_type: "flat", or the FAISS factory string such as "IVF4096,SQ4".
        nlist: Number of inverted lists, 0 for the exact index.
        training_size: Number of vectors to train on, 0 for the exact index.
    """

    index_type: str
    nlist: int = 0
    training_size: int = 0


def plan_index(count: int) -> IndexPlan:
    """Choose the index type and IVF parameters for `count` passages."""
    if count <= EXACT_SEARCH_LIMIT:
        return IndexPlan("flat")
    nlist = min(
        IVF_MAX_LISTS,
        int(4 * math.sqrt(count)),
        count // TRAINING_VECTORS_PER_LIST,
    )
    return IndexPlan(
        index_type=f"IVF{nlist},{IVF_ENCODING}",
        nlist=nlist,
        training_size=min(count, TRAINING_VECTORS_PER_LIST * nlist),
    )


def outgrown(index_type: str, count: int) -> str | None:
    """Return why an index of this type should be rebuilt for count passages.

    Returns None while the type still suits the count, within TYPE_MARGIN of the
    exact search limit and LIST_GROWTH of the planned number of lists.
    """
    if index_type == "flat":
        if count > TYPE_MARGIN * EXACT_SEARCH_LIMIT:
            return (
                f"the exact vector index holds {count:,} passages, more than "
                f"{TYPE_MARGIN * EXACT_SEARCH_LIMIT:,.0f}"
            )
        return None
    if count < EXACT_SEARCH_LIMIT / TYPE_MARGIN:
        return (
            f"the {index_type} vector index holds only {count:,} passages, which "
            "exact search handles"
        )
    lists = _lists_of(index_type)
    planned = plan_index(count)
    if lists is not None and planned.nlist >= LIST_GROWTH * lists:
        return (
            f"the {index_type} vector index holds {count:,} passages, which call "
            f"for {planned.index_type}"
        )
    return None


def _lists_of(index_type: str) -> int | None:
    """Return the number of lists of an "IVF{n},..." type, or None for another."""
    head = index_type.split(",", 1)[0]
    if head.startswith("IVF") and head[3:].isdigit():
        return int(head[3:])
    return None


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
    [-1, 1], higher is closer. An IVF index returns approximate scores.
    """

    def __init__(self, index: faiss.Index, info: IndexInfo) -> None:
        self.index = index
        self.info = info

    @classmethod
    def create(
        cls,
        dimension: int,
        model: str,
        count: int = 0,
        training: np.ndarray | None = None,
        plan: IndexPlan | None = None,
    ) -> VectorIndex:
        """Create an empty index of the type chosen for `count` passages.

        Args:
            dimension: Vector length.
            model: Embedding model name, stored so vectors of two models never mix.
            count: How many passages the index will hold.
            training: Vectors to train an IVF index on, best a random sample of
                plan_index(count).training_size vectors. Unused for a flat index.
            plan: Another index type than plan_index(count), for benchmarks.

        Raises:
            ValueError: When an IVF index gets fewer training vectors than lists.
        """
        plan = plan or plan_index(count)
        if plan.nlist == 0:
            index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        else:
            index = _train_ivf(dimension, plan, training)

        info = IndexInfo(
            data_version=0,
            model=model,
            dimension=dimension,
            count=0,
            index_type=plan.index_type,
        )
        return cls(index, info)

    @property
    def size(self) -> int:
        """Return the number of vectors in the index."""
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        """Return every passage id in the index, read from its id map or lists."""
        if isinstance(self.index, faiss.IndexIDMap2):
            return faiss.vector_to_array(self.index.id_map)

        # The faiss 1.15 type stubs give get_ids() the wrong type and leave out
        # release_ids(), so the inverted lists are typed as Any.
        invlists: Any = faiss.extract_index_ivf(self.index).invlists
        parts = [np.zeros(0, dtype=np.int64)]
        for list_number in range(invlists.nlist):
            size = invlists.list_size(list_number)
            if size == 0:
                continue
            pointer = invlists.get_ids(list_number)
            parts.append(faiss.rev_swig_ptr(pointer, size).copy())
            invlists.release_ids(list_number, pointer)
        return np.concatenate(parts)

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
        FAISS writes straight to the file, without a second copy in memory.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        self.info = replace(self.info, count=self.size)
        header = json.dumps(asdict(self.info)).encode()
        _remove_abandoned(path)

        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(_MAGIC + struct.pack("<I", len(header)) + header)
                writer = faiss.PyCallbackIOWriter(handle.write)  # type: ignore[attr-defined]
                faiss.write_index(self.index, writer)
                del writer
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise KnowledgeBaseError(
                f"cannot write the vector index {path}: {error.strerror or error}; "
                "check the permissions and free space of its folder"
            ) from error

    @staticmethod
    def read_info(path: Path) -> IndexInfo:
        """Read only the header of a saved index, without loading its vectors."""
        try:
            with open(path, "rb") as handle:
                return _read_header(handle)
        except (OSError, ValueError, TypeError, struct.error) as error:
            raise KnowledgeBaseError(
                f"vector index at {path} is unreadable: {error}"
            ) from error

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read an index saved by save(); raises KnowledgeBaseError when unreadable.

        FAISS reads the file in blocks, so the file's bytes and the index are never
        in memory together. The saved nprobe is replaced by IVF_NPROBE.
        """
        if not path.is_file():
            raise KnowledgeBaseError(f"no vector index at {path}")
        try:
            with open(path, "rb") as handle:
                info = _read_header(handle)
                reader = faiss.PyCallbackIOReader(handle.read)  # type: ignore[attr-defined]
                index = faiss.read_index(reader)
                del reader
        except (OSError, ValueError, TypeError, RuntimeError, struct.error) as error:
            raise KnowledgeBaseError(
                f"vector index at {path} is unreadable: {error}"
            ) from error
        if not isinstance(index, faiss.IndexIDMap2):
            faiss.extract_index_ivf(index).nprobe = IVF_NPROBE
        if index.ntotal != info.count or index.d != info.dimension:
            raise KnowledgeBaseError(
                f"vector index at {path} contains {index.ntotal} vectors of dimension "
                f"{index.d}, but its header says {info.count} of {info.dimension}"
            )
        return cls(index, info)


def _train_ivf(
    dimension: int, plan: IndexPlan, training: np.ndarray | None
) -> faiss.Index:
    """Create an IVF index for the plan and train it on the given vectors."""
    if training is None or len(training) < plan.nlist:
        training_count = 0 if training is None else len(training)
        raise ValueError(
            f"an {plan.index_type} index needs at least {plan.nlist} training "
            f"vectors, but {training_count} were passed; pass a random sample of "
            f"{plan.training_size} stored vectors"
        )
    index = faiss.index_factory(dimension, plan.index_type, faiss.METRIC_INNER_PRODUCT)
    index.train(np.ascontiguousarray(training, dtype=np.float32))
    faiss.extract_index_ivf(index).nprobe = IVF_NPROBE
    return index


def _remove_abandoned(path: Path) -> None:
    """Delete the temporary files of saves whose process no longer runs.

    A save killed midway leaves its file, as large as the index (1.35 GB at a
    million records). Files of running processes are saves in progress.
    """
    for leftover in path.parent.glob(f"{path.name}.*.tmp"):
        pid_text = leftover.name[len(path.name) + 1 : -len(".tmp")]
        if not pid_text.isdigit() or _process_runs(int(pid_text)):
            continue
        try:
            leftover.unlink()
        except OSError as error:
            logger.warning("cannot remove abandoned %s: %s", leftover, error)
        else:
            logger.info("removed %s, left by a save that was killed", leftover)


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # The process exists but belongs to another user.
        return True
    return True


def _read_header(handle: io.BufferedReader) -> IndexInfo:
    """Read the magic bytes and info of an index file, leaving it at the body."""
    head = handle.read(len(_MAGIC) + 4)
    if not head.startswith(_MAGIC) or len(head) < len(_MAGIC) + 4:
        raise ValueError("not a vector index file of this version")
    (length,) = struct.unpack("<I", head[len(_MAGIC) :])
    return IndexInfo(**json.loads(handle.read(length)))
