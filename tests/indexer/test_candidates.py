"""The lean candidate reads return what the full reads return, for the ids asked."""

import numpy as np

from indexer.candidates import candidate_passages, join_passages, record_labels


def test_candidate_passages_match_the_stored_passages(sample_kb):
    database = sample_kb.database
    ids = sorted(database.record_hashes())[:5]

    passages = candidate_passages(database, [*ids, "no-such-record"])

    expected = database.record_passages(ids)
    assert len(passages) == len(expected) > 5
    assert passages.vectors.shape == (len(expected), 384)
    assert passages.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages.vectors, axis=1), 1.0, atol=1e-4)
    by_row = sorted(
        zip(passages.record_ids, passages.sections, passages.roles, strict=True)
    )
    assert by_row == sorted(
        (ref.record_id, ref.section, ref.role) for ref, _ in expected
    )
    # Each row's vector is that passage's stored vector.
    stored = {
        (ref.record_id, ref.section, vector.tobytes()) for ref, vector in expected
    }
    for rid, section, vector in zip(
        passages.record_ids, passages.sections, passages.vectors, strict=True
    ):
        assert (rid, section, vector.tobytes()) in stored


def test_candidate_passages_of_no_records_are_empty(sample_kb):
    assert len(candidate_passages(sample_kb.database, [])) == 0
    assert len(candidate_passages(sample_kb.database, ["no-such-record"])) == 0


def test_record_labels_are_the_stored_labels(sample_kb):
    database = sample_kb.database
    records = sample_kb.get_many(sorted(database.record_hashes()))
    labelled = [r for r in records.values() if r.labels][:4]
    unlabelled = [r for r in records.values() if not r.labels][:1]
    ids = [r.id for r in labelled + unlabelled]

    labels = record_labels(database, [*ids, "no-such-record"])

    assert set(labels) == set(ids)
    for record in labelled + unlabelled:
        assert labels[record.id] == record.labels
    assert record_labels(database, []) == {}


def test_join_passages_keeps_rows_in_order(sample_kb):
    database = sample_kb.database
    ids = sorted(database.record_hashes())
    first = candidate_passages(database, ids[:2])
    second = candidate_passages(database, ids[2:4])

    joined = join_passages(first, second)

    assert joined.record_ids == first.record_ids + second.record_ids
    assert joined.sections == first.sections + second.sections
    assert joined.roles == first.roles + second.roles
    assert np.array_equal(joined.vectors, np.vstack([first.vectors, second.vectors]))
    empty = candidate_passages(database, [])
    assert join_passages(empty, second) is second
    assert join_passages(first, empty) is first
