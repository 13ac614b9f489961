import pytest

from recommender.action_items import parse_action_items

CASES = [
    (
        "- Add a synthetic check. (storefront)",
        "Add a synthetic check. (storefront)",
        True,
    ),
    ("- Alert on the slot. (data, done)", "Alert on the slot. (data)", False),
    ("- [ ] Page at 7 days", "Page at 7 days", True),
    ("- [x] Remove hand-made Secrets", "Remove hand-made Secrets", False),
    ("* ~~Move the job off the primary~~", "Move the job off the primary", False),
    ("1. Rotate the API key - closed", "Rotate the API key", False),
    ("- Fix the split-brain handling", "Fix the split-brain handling", True),
    ("Set a statement timeout", "Set a statement timeout", True),
    (
        "- Canary resolver config pushes (platform, not done)",
        "Canary resolver config pushes (platform, not done)",
        True,
    ),
    (
        "- Lint forward zones in CI (to be done by Q3)",
        "Lint forward zones in CI (to be done by Q3)",
        True,
    ),
    ("- Add a runbook (sre; Done)", "Add a runbook (sre)", False),
]


@pytest.mark.parametrize(("line", "text", "is_open"), CASES)
def test_list_item_status(line, text, is_open):
    [item] = parse_action_items("PM-1", line)

    assert item.record_id == "PM-1"
    assert item.text == text
    assert item.open is is_open


def test_table_status_column_decides():
    section = (
        "| Action | Owner | Status |\n"
        "| --- | --- | --- |\n"
        "| Cap WAL kept for slots | data | done |\n"
        "| Ticket for pausing CDC | data | open |\n"
        "| Page the data team | platform | **Closed** |\n"
    )

    items = parse_action_items("PM-2", section)

    assert [item.text for item in items] == [
        "Cap WAL kept for slots",
        "Ticket for pausing CDC",
        "Page the data team",
    ]
    assert [item.open for item in items] == [False, True, False]


def test_wrapped_item_keeps_its_status():
    section = "- [x] Route the alert to the owning team\n  and page at 7 days\n- Next"

    first, second = parse_action_items("PM-3", section)

    assert first.text == "Route the alert to the owning team and page at 7 days"
    assert first.open is False
    assert second.open is True


def test_empty_section_has_no_items():
    assert parse_action_items("PM-4", "") == []


def test_list_beside_a_table_is_read_too():
    section = (
        "Owners are tracked in Jira.\n"
        "| Action | Status |\n"
        "| --- | --- |\n"
        "| Cap WAL kept for slots | n/a **DONE** |\n"
        "| Pause CDC on failover | not done |\n"
        "- Page the data team on slot growth\n"
    )

    items = parse_action_items("PM-3", section)

    assert [(item.text, item.open) for item in items] == [
        ("Cap WAL kept for slots", False),
        ("Pause CDC on failover", True),
        ("Page the data team on slot growth", True),
    ]
