"""Suggestions quote a record's prose, never its commands or their labels."""

from recommender.suggestions import shorten

FENCE = "`" * 3


def test_code_labels_left_out_with_code():
    text = "\n".join(
        [
            "On a PostgreSQL host:",
            FENCE,
            "$ du -sh /var/lib/postgresql/*/main/pg_wal",
            FENCE,
            "On a Kubernetes node:",
            FENCE,
            "$ kubectl describe node NODE",
            FENCE,
        ]
    )

    assert shorten(text) == ""


def test_prose_around_code_kept():
    text = "\n".join(
        [
            "The WAL volume filled because a replication slot was inactive.",
            "Check the slots:",
            FENCE,
            "SELECT slot_name FROM pg_replication_slots;",
            FENCE,
            "Archiving had also failed: the bucket credentials expired.",
        ]
    )

    assert shorten(text) == (
        "The WAL volume filled because a replication slot was inactive. "
        "Archiving had also failed: the bucket credentials expired."
    )


def test_colon_line_without_code_kept():
    text = "Two causes:\n- a paused CDC connector\n- no cap on retained WAL"

    assert shorten(text) == "a paused CDC connector; no cap on retained WAL"


def test_table_rows_become_items():
    text = "\n".join(
        [
            "| Cause | Owner |",
            "|---|---|",
            "| Expired certificate | edge |",
            "| Bad DNS | net |",
        ]
    )

    assert shorten(text) == "Expired certificate; Bad DNS"
