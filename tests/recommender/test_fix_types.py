import pytest

from recommender.fix_types import FIX_TYPES, classify_fix


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Engineers rolled back the updates to mitigate the issue.", "rollback"),
        ("The deployment was reverted to the previous release.", "rollback"),
        ("We failed over to the standby region.", "failover or traffic redirection"),
        (
            "Traffic was redirected to healthy data centers.",
            "failover or traffic redirection",
        ),
        ("Restarted the metadata nodes.", "restart"),
        ("Grew the EBS volume from 500 GB to 800 GB.", "capacity"),
        ("Scaled out the worker pool.", "capacity"),
        ("Never delete files in pg_wal by hand. Grow the volume first.", "capacity"),
        ("Increase the memory limit of the container.", "capacity"),
        ("Scale up the deployment before the sale.", "capacity"),
        ("Throttled CreateDomain calls until recovery.", "throttling"),
        ("Deployed a hotfix for the parser.", "hotfix"),
        ("Power was restored to the affected racks.", "hardware or power restore"),
        (
            "Updated the network filtering policy on both devices.",
            "configuration change",
        ),
    ],
)
def test_classify_fix_known_phrases(text, expected):
    assert classify_fix(text) == expected


def test_classify_fix_unknown_is_none():
    assert classify_fix("The team met to discuss the incident.") is None


def test_classify_fix_earliest_phrase_wins():
    text = "We rolled back the release, then restarted the pods to clear caches."
    assert classify_fix(text) == "rollback"


def test_every_fix_type_has_phrases():
    assert len(FIX_TYPES) == 8
    assert all(FIX_TYPES.values())
