"""Tests for heading normalisation, synonyms and Markdown heading detection."""

from __future__ import annotations

import pytest

from indexer.readers.sections import (
    HEADING_SYNONYMS,
    normalize_heading,
    section_for_heading,
    split_blocks,
)
from indexer.record import SECTION_NAMES


def test_synonyms_map_to_canonical_sections() -> None:
    unknown = set(HEADING_SYNONYMS) - set(SECTION_NAMES)
    assert not unknown


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("1. Root Cause(s)", "root causes"),
        ("**Follow-up**", "follow up"),
        ("2.3) Lessons Learned:", "lessons learned"),
        ("Step 2: Diagnosis", "diagnosis"),
        ("`What went wrong?`", "what went wrong"),
        ("a fix", "a fix"),
    ],
)
def test_normalize_heading(heading: str, expected: str) -> None:
    assert normalize_heading(heading) == expected


@pytest.mark.parametrize(
    ("heading", "section"),
    [
        ("Summary", "summary"),
        ("Executive Summary", "summary"),
        ("What happened", "summary"),
        ("Description", "summary"),
        ("Customer Impact", "impact"),
        ("Blast radius", "impact"),
        ("1. Root Cause(s)", "root_cause"),
        ("Root Cause Analysis", "root_cause"),
        ("Why it happened", "root_cause"),
        ("What went wrong", "root_cause"),
        ("Trigger", "trigger"),
        ("Contributing Factors", "contributing_factors"),
        ("Contributing Factors (findings)", "contributing_factors"),
        ("How it was detected", "detection"),
        ("How we fixed it", "resolution"),
        ("Remediation", "resolution"),
        ("Workaround", "mitigation"),
        ("Immediate actions", "mitigation"),
        ("Timeline", "timeline"),
        ("Follow-ups", "action_items"),
        ("Corrective Actions", "action_items"),
        ("Remediation items", "action_items"),
        ("Lessons Learned", "lessons"),
        ("What went well", "lessons"),
        ("Meaning", "meaning"),
        ("Troubleshooting", "diagnosis"),
        ("Investigation", "diagnosis"),
        ("Possible causes", "diagnosis"),
        ("Root Cause and Contributing Factors", "root_cause"),
        ("Root Cause & Contributing Factors", "root_cause"),
        ("Resolution & Recovery", "resolution"),
        ("Action Items / Follow-ups", "action_items"),
        ("Mitigations", "mitigation"),
        ("Five whys", "contributing_factors"),
        ("5 Whys", "contributing_factors"),
        ("Fixes", "resolution"),
        ("Lessons Learnt", "lessons"),
        ("Detection and Response", "detection"),
        ("Mitigation and Rollback", "mitigation"),
        ("Impact & Customer Communication", "impact"),
        ("Checkout outage, root cause and fixes", None),
        ("Root cause and resolution of the login outage", None),
        ("Timeline & lessons: Kafka broker loss", None),
        ("Timeline of events", "timeline"),
        ("Fault", "root_cause"),
        ("Leadup", "trigger"),
        ("Diagnosis and mitigation", "diagnosis"),
        ("Attendees", None),
        ("Attendees and reviewers", None),
        ("Stats", None),
    ],
)
def test_section_for_heading(heading: str, section: str | None) -> None:
    assert section_for_heading(heading) == section


def test_split_blocks_atx_with_closing_hashes() -> None:
    blocks = split_blocks("# Title #\n\ntext\n\n## Impact ##\nslow\n")

    assert [(b.heading, b.level) for b in blocks] == [
        ("", 0),
        ("Title", 1),
        ("Impact", 2),
    ]
    assert blocks[2].text == "slow"
    assert blocks[2].line == 5


def test_split_blocks_setext_headings() -> None:
    body = (
        "Outage of the API\n=================\n\nIntro.\n\n"
        "Impact\n------\nUsers saw 503s.\n"
    )

    blocks = split_blocks(body)

    assert [(b.heading, b.level) for b in blocks[1:]] == [
        ("Outage of the API", 1),
        ("Impact", 2),
    ]
    assert blocks[1].text == "Intro."
    assert blocks[2].text == "Users saw 503s."


def test_split_blocks_ignores_hashes_in_fences() -> None:
    body = (
        "## Diagnosis\n"
        "```shell\n"
        "# list the pods\n"
        "kubectl get pods\n"
        "```\n"
        "~~~~\n"
        "# not a heading\n"
        "```\n"
        "# still code\n"
        "~~~~\n"
        "## Mitigation\n"
        "restart\n"
    )

    blocks = split_blocks(body)

    assert [b.heading for b in blocks[1:]] == ["Diagnosis", "Mitigation"]
    assert "# list the pods" in blocks[1].text
    assert "# still code" in blocks[1].text


def test_split_blocks_rule_after_paragraph_is_not_heading() -> None:
    body = "first line\nsecond line\n---\n\n- item\n---\n"

    blocks = split_blocks(body)

    assert len(blocks) == 1
    assert "---" in blocks[0].text


def test_split_blocks_hash_without_space_is_text() -> None:
    blocks = split_blocks("#hashtag\n    # indented code\n")

    assert len(blocks) == 1


def test_split_blocks_bold_line_headings() -> None:
    body = (
        "**Summary**\n\nCheckout failed.\n\n"
        "# Payments outage\n\n"
        "**Root cause:**\nThe pool was capped at 10.\n\n"
        "__Resolution__:\n\nRaised the cap.\n\n"
        "### Follow-up\n\n"
        "**Action items**\n\n- Alert on saturation.\n"
    )

    blocks = split_blocks(body)

    assert [(b.heading, b.level, bool(b.bold_line)) for b in blocks] == [
        ("", 0, False),
        ("Summary", 2, True),
        ("Payments outage", 1, False),
        ("Root cause", 2, True),
        ("Resolution", 2, True),
        ("Follow-up", 3, False),
        # A deeper heading leaves the level of bold-line headings as it was.
        ("Action items", 2, True),
    ]
    assert blocks[1].text == "Checkout failed."
    assert blocks[3].text == "The pool was capped at 10."
    assert blocks[3].line == 7
    assert blocks[4].text == "Raised the cap."
    assert blocks[6].text == "- Alert on saturation."


@pytest.mark.parametrize(
    "body",
    [
        "The **root cause** was a full disk.\n",
        "The disk filled up.\n**Root Cause**\nA cron job wrote logs.\n",
        "**Notes**\n\nA cron job wrote logs.\n",
        "```\n**Root Cause**\n```\n",
        "    **Root Cause**\n",
        "- **Root Cause**\n",
        "- Check the annotations:\n\n  __Description__\n\n  `Deprecated API.`\n",
        "> **Root Cause**\n",
        "**Root Cause**: a cron job wrote logs.\n",
        "** Root Cause **\n",
        "**Root Cause__\n",
        "**Root** and **Cause**\n",
    ],
    ids=[
        "phrase in a paragraph",
        "line inside a paragraph",
        "unknown section",
        "fenced code",
        "indented code",
        "list item",
        "list item paragraph",
        "blockquote",
        "label with text",
        "spaces inside",
        "mixed delimiters",
        "two bold phrases",
    ],
)
def test_split_blocks_bold_text_stays_text(body: str) -> None:
    blocks = split_blocks(body)

    assert len(blocks) == 1
    assert blocks[0].lines == body.splitlines()


def test_split_blocks_bold_setext_heading() -> None:
    blocks = split_blocks("**Root Cause**\n---\nA full disk.\n")

    assert [(b.heading, b.level, bool(b.bold_line)) for b in blocks[1:]] == [
        ("**Root Cause**", 2, False)
    ]
    assert blocks[1].text == "A full disk."


def test_split_blocks_bold_lines_share_a_level() -> None:
    body = (
        "# Checkout outage\n\n"
        "**Summary**\n\nCheckout failed.\n\n"
        "### Customer communication\n\nWe posted at 10:05.\n\n"
        "**Root Cause**\n\nA removed readiness probe.\n\n"
        "## Details\n\n"
        "**Resolution**\n\nRolled back.\n\n"
        "#### Commands\n\n"
        "**Mitigation**\n\nScaled up.\n"
    )

    blocks = split_blocks(body)

    assert [(b.heading, b.level) for b in blocks[1:]] == [
        ("Checkout outage", 1),
        ("Summary", 2),
        ("Customer communication", 3),
        ("Root Cause", 2),
        ("Details", 2),
        ("Resolution", 3),
        ("Commands", 4),
        ("Mitigation", 3),
    ]


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("***Action Items***", "Action Items"),
        ("___Root cause:___", "Root cause"),
        ("***Resolution***:", "Resolution"),
    ],
)
def test_split_blocks_bold_italic_line(line: str, heading: str) -> None:
    blocks = split_blocks(f"{line}\n\nText.\n")

    assert [(b.heading, b.level, b.bold_line) for b in blocks[1:]] == [
        (heading, 2, line)
    ]
    assert blocks[1].text == "Text."


@pytest.mark.parametrize(
    "body",
    ["***Action Items**\n", "**Action Items***\n", "****Action Items****\n"],
    ids=["unbalanced open", "unbalanced close", "four stars"],
)
def test_split_blocks_odd_stars_stay_text(body: str) -> None:
    blocks = split_blocks(body)

    assert len(blocks) == 1
    assert blocks[0].lines == body.splitlines()
