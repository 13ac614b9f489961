import pytest

from indexer.knowledge_base import KnowledgeBase
from indexer.readers import read_sources
from indexer.settings import IndexerSettings
from recommender.cli import main
from recommender.patterns import find_patterns, period_of
from recommender.patterns_report import render_markdown, report_to_dict

# Postmortems of the dfds public collection that describe the same root cause.
DFDS_RECURRING = (
    ("PM2021-005", "PM2021-006", "PM2021-007"),
    ("PM2021-002", "PM2021-003"),
    ("PM2022-004", "PM2022-007"),
    ("PM2020-002", "PM2020-009"),
)


@pytest.fixture(scope="module")
def sample_report(sample_kb):
    return find_patterns(sample_kb)


def test_sample_has_recurring_clusters(sample_report, sample_kb):
    recurring = sample_report.recurring

    assert len(recurring) >= 2
    counts = sample_kb.database.count_records()
    assert sample_report.records == counts["postmortem"] + counts["incident"]
    ids = [
        record.id for pattern in sample_report.patterns for record in pattern.records
    ]
    assert len(ids) == len(set(ids)) == sample_report.records
    assert not any(i.startswith("RB-") for i in ids)
    assert [len(p.records) for p in sample_report.patterns] == sorted(
        (len(p.records) for p in sample_report.patterns), reverse=True
    )


def test_clusters_counted_per_quarter(sample_report):
    for pattern in sample_report.recurring:
        assert sum(pattern.counts.values()) == len(pattern.records)
        for record in pattern.records:
            assert record.period in pattern.counts
            assert record.period == "undated" or "-Q" in record.period
        assert pattern.name
        assert pattern.terms


def test_hpa_cluster_keeps_open_action_items(sample_report):
    # PM-2022-021 lists items marked "(platform, done)" beside open ones.
    [pattern] = [
        p for p in sample_report.recurring if "PM-2022-021" in {r.id for r in p.records}
    ]

    assert pattern.closed_action_items >= 1
    assert pattern.open_action_items
    assert all("done" not in item.text for item in pattern.open_action_items)


def test_markdown_and_json_agree(sample_report):
    markdown = render_markdown(sample_report, chart="patterns.png")
    data = report_to_dict(sample_report, recurring_only=True)

    assert "![Recurring clusters per quarter](patterns.png)" in markdown
    assert data["recurring_clusters"] == len(sample_report.recurring)
    assert len(data["patterns"]) == len(sample_report.recurring)
    for pattern in data["patterns"]:
        assert f"## {pattern['id']}. {pattern['name']}" in markdown
        assert pattern["recurring"] is True


def test_period_of_month_and_quarter():
    from datetime import datetime

    moment = datetime(2024, 8, 20)

    assert period_of(moment, "quarter") == "2024-Q3"
    assert period_of(moment, "month") == "2024-08"
    assert period_of(None, "quarter") == "undated"


def test_cli_writes_report_and_chart(sample_home, tmp_path, capsys):
    output = tmp_path / "report"

    status = main(["--home", str(sample_home), "patterns", "--output", str(output)])

    assert status == 0
    assert "recurring pattern(s)" in capsys.readouterr().out
    markdown = (output / "patterns.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Recurring incident patterns")
    assert (output / "patterns.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_rejects_bad_threshold(sample_home, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "--home",
                str(sample_home),
                "patterns",
                "--output",
                str(tmp_path),
                "--distance-threshold",
                "3",
            ]
        )

    assert exit_info.value.code == 2
    assert "between 0.01 and 1.99, got 3" in capsys.readouterr().err


@pytest.mark.slow
def test_dfds_recurring_groups_cluster_together(shared_data, tmp_path, embedder):
    # Builds a knowledge base of 39 postmortems: about a minute on two cores.
    records = read_sources([shared_data / "dfds+postmortems"]).records
    knowledge_base = KnowledgeBase(IndexerSettings(home=tmp_path), embedder=embedder)
    knowledge_base.build(records)

    report = find_patterns(knowledge_base)

    cluster_of = {
        record.id.split("/")[-1].split(" ")[0]: pattern.id
        for pattern in report.patterns
        for record in pattern.records
    }
    together = [
        group
        for group in DFDS_RECURRING
        if len({cluster_of[number] for number in group}) == 1
    ]
    assert len(together) >= 3, f"only {together} clustered together"
    assert len(report.patterns) > 5
