"""Keeps a process's vector index in step with the database, in place.

The database is the truth, and the index file on disk is a checkpoint of some data
version. A process loads it and applies what changed since (new passages, removed
passage ids) instead of rebuilding, so the cost of a change grows with the change,
not with the index. A missing, unreadable or foreign index is rebuilt from the
stored vectors.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from indexer.database import Database
from indexer.errors import KnowledgeBaseError
from indexer.settings import IndexerSettings
from indexer.vector_index import VectorIndex, outgrown, plan_index

logger = logging.getLogger(__name__)

# Only writers save a checkpoint, and only once this many passages changed since the
# saved one and they are at least this share of the index, so small additions never
# rewrite a large index file.
CHECKPOINT_MIN_CHANGES = 1_000
CHECKPOINT_MIN_SHARE = 0.05


class VectorStore:
    """The vector index of one process, brought up to the database's data version."""

    def __init__(
        self,
        database: Database,
        settings: IndexerSettings,
        model_dimension: Callable[[], int],
    ) -> None:
        """Keep the index of a database.

        Args:
            database: The records and their vectors.
            settings: Where the index file lives.
            model_dimension: Returns the embedding model's dimension, for a
                knowledge base that has never stored one (nothing built yet).
        """
        self.database = database
        self.settings = settings
        self.model_dimension = model_dimension
        self._index: VectorIndex | None = None
        # Data version and highest passage id of the index file on disk.
        self._saved: tuple[int, int] | None = None
        # Inode and modification time of the index file this process last read
        # or wrote, to notice a file that another process saved.
        self._file_id: tuple[int, int] | None = None
        self._lock = threading.RLock()

    @property
    def loaded(self) -> bool:
        """Return whether this process holds the index in memory."""
        return self._index is not None

    def current(self) -> VectorIndex:
        """Return the index for the database's current data version.

        A writer that rebuilt the index in another type (see checkpoint) leaves
        the data version as it was, so the file itself is checked too: one stat
        per call, and its header only when the file changed.
        """
        version = self.database.data_version()
        index = self._index
        if (
            index is not None
            and index.info.data_version == version
            and self._file_identity() == self._file_id
        ):
            return index
        with self._lock:
            index = self._index
            index = self._load() if index is None else self._rebuilt_by_writer(index)
            # Read again: a writer may have saved a newer index meanwhile.
            version = self.database.data_version()
            if index.info.data_version > version:
                logger.warning(
                    "vector index is at data version %d but the database at %d; "
                    "rebuilding it from the database",
                    index.info.data_version,
                    version,
                )
                index = self._rebuild_in_memory()
            elif index.info.data_version < version:
                self._catch_up(index)
            self._index = index
            return index

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Search the current index; see VectorIndex.search.

        FAISS indexes are not safe to search while another thread adds or removes
        vectors, so searches and catch-ups of this process take turns on one lock.
        """
        with self._lock:
            return self.current().search(vector, k)

    def replace(self, index: VectorIndex) -> None:
        """Use a freshly built index and save it at once (see _save_after_write)."""
        with self._lock:
            self._index = index
            self._save_after_write(index)

    def checkpoint(self, force: bool = False) -> bool:
        """Save the current index when enough changed since the saved file.

        An index whose type no longer suits its size (vector_index.outgrown) is
        rebuilt from the stored vectors instead. The rebuild runs outside this
        process's index lock, so the searches of a service that writes use the
        old index meanwhile. Call only while holding the write lock, which keeps
        the data still during the rebuild. Returns whether it saved.
        """
        reason = self._outgrown()
        if reason is not None:
            logger.warning("%s; rebuilding it from the stored vectors", reason)
            rebuilt = self.rebuild(save=False)
            with self._lock:
                self._index = rebuilt
            return self._save_after_write(rebuilt)
        with self._lock:
            if not force and self._index is None and not self._checkpoint_due():
                # Leave the file alone without loading it: a large index takes
                # seconds to read, and readers catch up from the database anyway.
                return False
            index = self.current()
            changed = self._changes_since_save(index)
            threshold = max(CHECKPOINT_MIN_CHANGES, CHECKPOINT_MIN_SHARE * index.size)
            if not force and changed < threshold:
                return False
            return self._save_after_write(index)

    def _save_after_write(self, index: VectorIndex) -> bool:
        """Save the index, or warn when the file cannot be written.

        The records are already committed, and every process rebuilds or
        catches up its index from the database, so a file that cannot be
        replaced costs time when a process loads it, not records.
        """
        try:
            self.save(index)
        except KnowledgeBaseError as error:
            logger.warning(
                "%s. The records are stored (data version %d), and each process "
                "rebuilds or catches up its index from the database until the "
                "file can be written",
                error,
                index.info.data_version,
            )
            return False
        return True

    def _outgrown(self) -> str | None:
        """Return why the index should be rebuilt for its size, or None."""
        index = self._index
        if index is not None:
            index_type = index.info.index_type
        else:
            try:
                index_type = VectorIndex.read_info(self.settings.index_path).index_type
            except KnowledgeBaseError:
                # A missing or unreadable file is rebuilt when it is next loaded.
                return None
        return outgrown(index_type, self.database.count_passages())

    def _rebuilt_by_writer(self, index: VectorIndex) -> VectorIndex:
        """Return the saved index when a writer rebuilt it in another type.

        Catching up keeps the type an index was loaded with, so a service would
        hold an exact index of a million passages until it restarted.
        """
        identity = self._file_identity()
        if identity == self._file_id:
            return index
        # Remembered before reading, so that a file that cannot be read is
        # warned about once, and a removed one costs one stat per search.
        self._file_id = identity
        if identity is None:
            return index
        path = self.settings.index_path
        try:
            info = VectorIndex.read_info(path)
            if (
                info.index_type == index.info.index_type
                or info.model != index.info.model
                or info.dimension != index.info.dimension
            ):
                return index
            started = time.perf_counter()
            saved = VectorIndex.load(path)
        except KnowledgeBaseError as error:
            logger.warning(
                "failed to read the vector index that a writer saved: %s; this "
                "process keeps its %s index until the next save",
                error,
                index.info.index_type,
            )
            return index
        self._saved = (saved.info.data_version, saved.info.max_passage_id)
        logger.info(
            "loaded the %s vector index that a writer rebuilt, in place of the %s "
            "one, in %.1f s",
            saved.info.index_type,
            index.info.index_type,
            time.perf_counter() - started,
        )
        return saved

    def _file_identity(self) -> tuple[int, int] | None:
        """Return the inode and modification time of the index file, if any.

        Saving writes a new file and renames it over the old one, so either
        changes when any process saves.
        """
        try:
            status = os.stat(self.settings.index_path)
        except OSError:
            return None
        return status.st_ino, status.st_mtime_ns

    def _checkpoint_due(self) -> bool:
        """Tell from the file header alone whether enough changed to save again."""
        try:
            info = VectorIndex.read_info(self.settings.index_path)
        except KnowledgeBaseError:
            return True
        changed = self.database.count_changes_since(
            info.data_version, info.max_passage_id
        )
        return changed >= max(CHECKPOINT_MIN_CHANGES, CHECKPOINT_MIN_SHARE * info.count)

    def save(self, index: VectorIndex) -> None:
        """Write the index file for its data version."""
        index.save(self.settings.index_path)
        self._saved = (index.info.data_version, index.info.max_passage_id)
        self._file_id = self._file_identity()

    def rebuild(self, save: bool = True) -> VectorIndex:
        """Build the index from every vector in the database, and save it.

        The vectors are read in batches, and an IVF index is trained on a random
        sample first, so the rebuild never has all vectors in memory at once.
        With save False the caller saves it.
        """
        started = time.perf_counter()
        version = self.database.data_version()
        count = self.database.count_passages()
        plan = plan_index(count)
        training = None
        if plan.nlist:
            training = self.database.sample_vectors(plan.training_size)
            logger.info(
                "training a %s vector index on %d of %d vectors",
                plan.index_type,
                len(training),
                count,
            )
        index = self._create(count, training)
        del training

        max_passage_id = 0
        for ids, vectors in self.database.iter_vectors():
            index.add(ids, vectors)
            max_passage_id = int(ids[-1])
        index.info = replace(
            index.info, data_version=version, max_passage_id=max_passage_id
        )
        if save:
            self.save(index)
        logger.info(
            "rebuilt %s vector index: %d vectors in %.1f s",
            index.info.index_type,
            index.size,
            time.perf_counter() - started,
        )
        return index

    def _rebuild_in_memory(self) -> VectorIndex:
        """Rebuild the index, and use it even when its file cannot be written."""
        index = self.rebuild(save=False)
        self._save_after_write(index)
        return index

    def new_index(self, vectors: np.ndarray) -> VectorIndex:
        """Create an empty index for these vectors, trained on a sample of them."""
        plan = plan_index(len(vectors))
        training = None
        if plan.nlist:
            rng = np.random.default_rng(0)
            rows = rng.choice(len(vectors), size=plan.training_size, replace=False)
            training = vectors[np.sort(rows)]
        return self._create(len(vectors), training)

    def _create(self, count: int, training: np.ndarray | None) -> VectorIndex:
        """Create an empty index of the stored model and dimension."""
        dimension = self.database.get_meta("dimension")
        if not isinstance(dimension, int):
            dimension = self.model_dimension()
        model = str(self.database.get_meta("model", self.settings.model))
        return VectorIndex.create(dimension, model, count, training)

    def _load(self) -> VectorIndex:
        path = self.settings.index_path
        # Taken before reading, so that a file replaced meanwhile is read again.
        identity = self._file_identity()
        try:
            index = VectorIndex.load(path)
        except KnowledgeBaseError as error:
            if path.exists():
                logger.warning("%s; rebuilding it from the database", error)
            elif passages := self.database.count_passages():
                # A new knowledge base has no file yet; one with passages had.
                logger.warning(
                    "vector index file %s is missing; rebuilding it from the %d "
                    "passages of the database",
                    path,
                    passages,
                )
            return self._rebuild_in_memory()
        stored_model = self.database.get_meta("model")
        if stored_model is not None and index.info.model != stored_model:
            logger.warning(
                "vector index was built with model %s but the database holds %s "
                "vectors; rebuilding it from the database",
                index.info.model,
                stored_model,
            )
            return self._rebuild_in_memory()
        self._saved = (index.info.data_version, index.info.max_passage_id)
        self._file_id = identity
        return index

    def _catch_up(self, index: VectorIndex) -> None:
        started = time.perf_counter()
        version = self.database.data_version()
        removed, ids, vectors = self.database.changes_since(
            index.info.data_version, index.info.max_passage_id
        )
        index.catch_up(version, removed, ids, vectors)
        logger.info(
            "vector index caught up to data version %d: %d added, %d removed in %.3f s",
            version,
            len(ids),
            len(removed),
            time.perf_counter() - started,
        )

    def _changes_since_save(self, index: VectorIndex) -> int:
        if self._saved is None:
            return index.size + 1
        version, max_passage_id = self._saved
        return self.database.count_changes_since(version, max_passage_id)
