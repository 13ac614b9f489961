"""The retrievers a team would use instead of the product: chromadb and BM25.

Both rank record ids for a query text. chromadb and bm25s are imported when a
retriever is created, so this module imports without the `bench` extra.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from benchmarks.baselines import record_text
from indexer.embedding import Embedder
from indexer.record import IncidentRecord

COLLECTION = "passages"
TOP_K = 10
# ChromaPeer requests this many passages per record it returns, because one record
# owns several passages and the nearest passages often share a record.
PASSAGES_PER_RECORD = 10

Ranking = list[tuple[str, float]]
# A record id and its passage vectors, in passage order.
RecordVectors = tuple[str, np.ndarray]


class Peer(Protocol):
    """A retriever that ranks record ids for a query text."""

    name: str

    def search(
        self, text: str, top_k: int = TOP_K, exclude: Collection[str] = ()
    ) -> Ranking:
        """Return up to top_k (record id, score) pairs, best first."""
        ...


class ChromaPeer:
    """Passage vectors in an embedded chromadb collection, folded into records.

    The collection uses the cosine space. A record's score is the cosine similarity
    of its best passage among the nearest passages, in [-1, 1], higher is closer.
    Only ids, vectors and record ids are stored, not the passage text.
    """

    name = "chromadb"

    def __init__(self, folder: Path, embedder: Embedder) -> None:
        chromadb = _require("chromadb")
        from chromadb.config import Settings

        from benchmarks.chroma_embedding import IncidentEmbeddingFunction

        # PersistentClient runs chromadb inside this process: no server.
        self.client = chromadb.PersistentClient(
            path=str(folder), settings=Settings(anonymized_telemetry=False)
        )
        self.collection = self.client.get_or_create_collection(
            COLLECTION,
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=IncidentEmbeddingFunction(embedder),
        )
        self.max_batch_size = int(self.client.get_max_batch_size())
        self.passages = self.collection.count()

    def add(self, items: Iterable[RecordVectors]) -> int:
        """Insert each record's passage vectors, max_batch_size passages per call.

        Returns the number of passages the collection gained. Passage n of record R
        gets the chromadb id "R#n". chromadb 1.5 ignores an id it already stores, so
        adding a record a second time keeps its first vectors.
        """
        ids: list[str] = []
        vectors: list[np.ndarray] = []
        metadatas: list[dict[str, str | int | float | bool | None]] = []
        added = 0
        for record_id, record_vectors in items:
            for number, vector in enumerate(record_vectors):
                ids.append(f"{record_id}#{number}")
                vectors.append(vector)
                metadatas.append({"record_id": record_id})
                if len(ids) == self.max_batch_size:
                    added += self._insert(ids, vectors, metadatas)
                    ids, vectors, metadatas = [], [], []
        if ids:
            added += self._insert(ids, vectors, metadatas)
        return added

    def search(
        self, text: str, top_k: int = TOP_K, exclude: Collection[str] = ()
    ) -> Ranking:
        """Embed the text, fetch the nearest passages and keep each record's best.

        Returns fewer than top_k records when the nearest top_k *
        PASSAGES_PER_RECORD passages belong to fewer records.
        """
        n_results = min(top_k * PASSAGES_PER_RECORD, self.passages)
        if n_results == 0:
            return []
        where = {"record_id": {"$nin": list(exclude)}} if exclude else None
        result = self.collection.query(
            query_texts=[text],
            n_results=n_results,
            where=where,
            include=["metadatas", "distances"],
        )
        metadatas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]

        best: dict[str, float] = {}
        for metadata, distance in zip(metadatas, distances, strict=True):
            record_id = str(metadata["record_id"])
            # chromadb returns cosine distance, 1 - cosine similarity, nearest first.
            best.setdefault(record_id, 1.0 - float(distance))
        return list(best.items())[:top_k]

    def close(self) -> None:
        """Release the database files, so the folder can be deleted or reopened."""
        self.client.close()

    def _insert(
        self,
        ids: list[str],
        vectors: list[np.ndarray],
        metadatas: list[dict[str, str | int | float | bool | None]],
    ) -> int:
        self.collection.add(
            ids=ids,
            embeddings=np.stack(vectors).astype(np.float32),
            metadatas=metadatas,
        )
        before = self.passages
        self.passages = self.collection.count()
        return self.passages - before


class Bm25Peer:
    """BM25 (bm25s, Lucene variant) over one text per record.

    The text is the title, alert names and every section (record_text). Tokens are
    lower-case words of two or more letters or digits, English stopwords removed,
    without stemming. Scores are BM25 scores, unbounded, higher is closer, and a
    record that shares no term with the query is never returned.
    """

    name = "BM25"

    def __init__(self) -> None:
        bm25s = _require("bm25s")
        # bm25s 0.3 sets its logger to DEBUG on import, so any root handler would
        # print its debug lines; inherit the application's level instead.
        logging.getLogger("bm25s").setLevel(logging.NOTSET)
        self.tokenizer = bm25s.tokenization.Tokenizer(
            lower=True, stopwords="english", stemmer=None
        )
        self.retriever = bm25s.BM25()
        self.ids: list[str] = []
        self._tokens: list[list[int]] = []
        self._indexed = False

    def add(self, records: Iterable[IncidentRecord]) -> int:
        """Tokenize records for the index and return how many were added.

        bm25s builds its index in one pass, so records can be added only before
        the first call of index().
        """
        if self._indexed:
            raise RuntimeError(
                "cannot add records to a Bm25Peer after index(); build a new one"
            )
        batch = list(records)
        texts = [record_text(record) for record in batch]
        self._tokens.extend(self.tokenizer.streaming_tokenize(texts, update_vocab=True))
        self.ids.extend(record.id for record in batch)
        return len(batch)

    def index(self) -> None:
        """Build the BM25 score matrix from the added records."""
        if self.ids:
            corpus = (self._tokens, self.tokenizer.get_vocab_dict())
            self.retriever.index(corpus, show_progress=False)
        self._tokens = []
        self._indexed = True

    def search(
        self, text: str, top_k: int = TOP_K, exclude: Collection[str] = ()
    ) -> Ranking:
        """Return the top_k records by BM25 score, leaving out excluded ids."""
        if not self._indexed:
            raise RuntimeError("call Bm25Peer.index() before searching")
        query = list(self.tokenizer.streaming_tokenize([text], update_vocab=False))
        k = min(top_k + len(exclude), len(self.ids))
        if k == 0:
            return []
        documents, scores = self.retriever.retrieve(
            query, k=k, show_progress=False, n_threads=0
        )
        ranked = [
            (self.ids[int(position)], float(value))
            for position, value in zip(documents[0], scores[0], strict=True)
            if value > 0 and self.ids[int(position)] not in exclude
        ]
        return ranked[:top_k]


def _require(module: str) -> Any:
    """Import an optional benchmark library, or raise ImportError naming its extra."""
    try:
        return __import__(module)
    except ImportError as error:
        raise ImportError(
            f"{module} is not installed; install the benchmark extra with "
            "pip install -e '.[bench]'"
        ) from error
