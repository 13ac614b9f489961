"""The passages of a search's candidate records, as one matrix to score at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from indexer.scoring_rows import ScoringRow


@dataclass(frozen=True)
class CandidatePassages:
    """The passages of some records, one row each, record by record.

    Attributes:
        record_ids: The record of each passage.
        sections: The section of each passage.
        roles: The role of each passage (symptom, context, cause or fix).
        vectors: One row per passage, float32.
    """

    record_ids: list[str]
    sections: list[str]
    roles: list[str]
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.record_ids)


def candidate_passages(rows: Sequence[ScoringRow]) -> CandidatePassages:
    """Return every passage of the given records with its vector."""
    record_ids: list[str] = []
    sections: list[str] = []
    roles: list[str] = []
    for row in rows:
        record_ids += [row.record_id] * len(row.roles)
        sections += row.sections
        roles += row.roles
    matrices = [row.vectors for row in rows if len(row.roles)]
    if not matrices:
        return CandidatePassages([], [], [], np.zeros((0, 0), dtype=np.float32))
    # One float16 matrix converted once, not one conversion per record.
    vectors = np.concatenate(matrices).astype(np.float32)
    return CandidatePassages(record_ids, sections, roles, vectors)
