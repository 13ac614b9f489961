from indexer.passages import MAX_WORDS, find_boilerplate, split_passages
from indexer.record import IncidentRecord, Kind


def _record(**sections):
    return IncidentRecord(
        id="PM-1",
        kind=Kind.POSTMORTEM,
        title="Orders DB disk full",
        sections=sections,
        labels={"alertname": "NodeFilesystemSpaceFillingUp"},
    )


def test_long_section_is_split_without_losing_words():
    words = [f"word{i}" for i in range(1000)]
    record = _record(
        summary="Disk filled up.", root_cause=" ".join(words) + " ROOTCAUSE"
    )
    passages = split_passages(record)
    cause = [p for p in passages if p.section == "root_cause"]
    assert len(cause) >= 1000 // MAX_WORDS
    assert all(len(p.text.split()) <= MAX_WORDS + 6 for p in cause)
    assert "ROOTCAUSE" in cause[-1].text
    joined = " ".join(p.text for p in cause)
    assert all(word in joined for word in ("word0", "word500", "word999"))


def test_head_passage_has_title_alert_and_summary():
    head = split_passages(_record(summary="The volume reached 100%."))[0]
    assert head.section == "title"
    assert head.role == "symptom"
    assert "Orders DB disk full" in head.text
    assert "NodeFilesystemSpaceFillingUp" in head.text
    assert "The volume reached" in head.text


def test_passage_roles_follow_sections():
    roles = {
        p.section: p.role
        for p in split_passages(
            _record(summary="s", root_cause="c", resolution="r", timeline="t")
        )
    }
    assert roles["summary"] == "symptom"
    assert roles["root_cause"] == "cause"
    assert roles["resolution"] == "fix"
    assert roles["timeline"] == "context"


def test_boilerplate_lines_found_and_dropped():
    template = "All times in UTC."
    records = [_record(timeline=f"{template}\nStep {i} taken") for i in range(10)]
    boilerplate = find_boilerplate(records, min_records=5)
    assert "all times in utc" in boilerplate
    assert not any(key.startswith("step") for key in boilerplate)
    texts = [p.text for p in split_passages(records[0], boilerplate)]
    assert not any("All times in UTC" in t for t in texts)
