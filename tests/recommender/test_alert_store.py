"""The alert store: shared by processes, first stored recommendation wins."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from recommender.alert_store import REPLAY_WINDOW, AlertStore, alert_key, alerts_table
from recommender.alerts import Alert

WORKERS = 4
DELIVERIES = 25
STARTS_AT = "2026-12-04T10:00:00Z"


def _alert(status: str = "firing", starts_at: str | None = STARTS_AT) -> Alert:
    return Alert(
        fingerprint="shared",
        status=status,
        title="Disk almost full on orders-db",
        starts_at=starts_at,
        source="pagerduty",
    )


def _deliver(path: str, worker: int) -> int:
    """Deliver one alert DELIVERIES times; return how many recommendations it stored."""
    store = AlertStore(Path(path))
    recommendation = {"matches": [{"id": f"W{worker}", "score": 0.5}]}
    saved = 0
    for _ in range(DELIVERIES):
        [stored] = store.receive([_alert()])
        _, won = store.save_recommendation(stored.key, recommendation, 1)
        saved += int(won)
    return saved


def test_processes_share_one_row(tmp_path):
    path = tmp_path / "alerts.db"
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        saved = list(pool.map(_deliver, [str(path)] * WORKERS, range(WORKERS)))

    items, total = AlertStore(path).page(10, 0)
    assert total == 1
    assert items[0].deliveries == WORKERS * DELIVERIES
    assert sum(saved) == 1
    assert items[0].recommendation["matches"][0]["id"] == f"W{saved.index(1)}"


def test_store_uses_wal_mode(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    with store.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"


def test_unsaved_alert_is_pending(tmp_path):
    path = tmp_path / "alerts.db"
    [stored] = AlertStore(path).receive([_alert()])
    reopened = AlertStore(path).get(stored.key)
    assert reopened is not None
    assert reopened.outcome == "pending"
    assert reopened.alert["title"] == "Disk almost full on orders-db"


def test_resolve_without_start_updates_open_alert(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    [fired] = store.receive([_alert()])
    store.save_recommendation(fired.key, {"matches": []}, 3)
    [resolved] = store.receive([_alert(status="resolved", starts_at=None)])
    assert resolved.key == fired.key
    assert resolved.status == "resolved"
    assert resolved.outcome == "recommended"
    assert resolved.data_version == 3
    assert resolved.alert["title"] == "Disk almost full on orders-db"


def test_replace_overwrites_recommendation(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    [stored] = store.receive([_alert()])
    store.save_recommendation(stored.key, {"matches": [{"id": "A"}]}, 1)
    kept, saved = store.save_recommendation(stored.key, {"matches": [{"id": "B"}]}, 2)
    assert saved is False
    assert kept.recommendation == {"matches": [{"id": "A"}]}
    replaced, saved = store.save_recommendation(
        stored.key, {"matches": [{"id": "B"}]}, 2, replace=True
    )
    assert saved is True
    assert replaced.recommendation == {"matches": [{"id": "B"}]}
    assert replaced.data_version == 2


def test_key_depends_on_start_time():
    assert alert_key(_alert()) == alert_key(_alert())
    assert alert_key(_alert()) != alert_key(_alert(starts_at="2026-12-05T10:00:00Z"))


def _age(store: AlertStore, key: str, minutes: float) -> None:
    """Move the first delivery of a stored alert minutes into the past."""
    [stored] = [item for item in store.page(100, 0)[0] if item.key == key]
    received = datetime.fromisoformat(stored.received_at) - timedelta(minutes=minutes)
    with store.engine.begin() as connection:
        connection.execute(
            update(alerts_table)
            .where(alerts_table.c.key == key)
            .values(received_at=received.isoformat(timespec="milliseconds"))
        )


def test_alert_without_start_replays_in_window(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    [first] = store.receive([_alert(starts_at=None)])
    [repeat] = store.receive([_alert(starts_at=None)])
    assert repeat.key == first.key
    assert repeat.deliveries == 2

    window_minutes = REPLAY_WINDOW.total_seconds() / 60
    _age(store, first.key, window_minutes + 1)
    [later] = store.receive([_alert(starts_at=None)])
    assert later.key != first.key
    assert later.deliveries == 1


def test_alert_without_start_is_new_after_resolve(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    [first] = store.receive([_alert(starts_at=None)])
    [resolved] = store.receive([_alert(status="resolved", starts_at=None)])
    [again] = store.receive([_alert(starts_at=None)])
    assert resolved.key == first.key
    assert again.key != first.key
    assert again.status == "firing"


def test_resolve_of_unknown_alert_is_not_stored(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    assert store.receive([_alert(status="resolved", starts_at=None)]) == [None]
    assert store.page(10, 0) == ([], 0)


def test_reused_fingerprint_is_stored_apart(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    first = _alert()
    first.labels = {"alertname": "KafkaConsumerLagHigh"}
    other = _alert()
    other.labels = {"alertname": "CertificateExpiringSoon"}

    [kafka] = store.receive([first])
    store.save_recommendation(kafka.key, {"matches": [{"id": "RB-kafka"}]}, 1)
    [cert] = store.receive([other])
    [kafka_again] = store.receive([first])
    [cert_again] = store.receive([other])

    assert cert.key != kafka.key
    assert cert.recommendation is None
    assert cert.alert["labels"] == {"alertname": "CertificateExpiringSoon"}
    assert kafka_again.key == kafka.key
    assert kafka_again.alert["labels"] == {"alertname": "KafkaConsumerLagHigh"}
    assert kafka_again.recommendation == {"matches": [{"id": "RB-kafka"}]}
    assert cert_again.key == cert.key
    assert cert_again.deliveries == 2


def test_prune_keeps_recent_alerts(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    [old] = store.receive([_alert(starts_at="2026-01-01T00:00:00Z")])
    [recent] = store.receive([_alert()])
    with store.engine.begin() as connection:
        connection.execute(
            update(alerts_table)
            .where(alerts_table.c.key == old.key)
            .values(last_received_at="2020-01-01T00:00:00.000+00:00")
        )

    assert store.prune(timedelta(days=30)) == 1
    assert store.get(old.key) is None
    assert store.get(recent.key) is not None


def test_late_firing_copy_leaves_alert_resolved(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    store.receive([_alert()])
    store.receive([_alert(status="resolved")])

    # A retry of the firing delivery, or a second Alertmanager replica behind
    # the first, sends the same occurrence again after its resolve.
    [late] = store.receive([_alert()])
    assert late.status == "resolved"
    assert late.deliveries == 3

    [again] = store.receive([_alert(starts_at="2026-12-04T10:30:00Z")])
    assert again.status == "firing"
    assert again.key != late.key


def test_resolve_ends_every_entry_of_its_occurrence(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    [later] = store.receive([_alert(starts_at="2026-12-04T10:02:00Z")])
    # Alertmanager moved the start earlier once a second Prometheus replica
    # reported it, so the same occurrence is stored under a second start.
    [earlier] = store.receive([_alert(starts_at="2026-12-04T10:00:00Z")])
    assert earlier.key != later.key

    resolve = _alert(status="resolved", starts_at="2026-12-04T10:00:00Z")
    resolve.ends_at = "2026-12-04T10:20:00Z"
    [resolved] = store.receive([resolve])
    assert resolved.key == earlier.key
    moved = store.get(later.key)
    assert moved is not None
    assert moved.status == "resolved"
    assert moved.alert["status"] == "resolved"
    assert moved.deliveries == 1


def test_late_resolve_leaves_a_newer_occurrence_firing(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    [old] = store.receive([_alert(starts_at="2026-12-04T10:00:00Z")])
    [new] = store.receive([_alert(starts_at="2026-12-04T11:00:00Z")])

    resolve = _alert(status="resolved", starts_at="2026-12-04T10:00:00Z")
    resolve.ends_at = "2026-12-04T10:20:00Z"
    store.receive([resolve])

    assert store.get(old.key).status == "resolved"
    assert store.get(new.key).status == "firing"


def test_left_out_alerts_resolve_by_their_end(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    [old] = store.receive([_alert(starts_at="2026-12-04T10:00:00Z")])
    [new] = store.receive([_alert(starts_at="2026-12-04T11:00:00Z")])

    assert store.resolve_left_out(["shared"], "pagerduty", "2026-12-04T10:30:00Z") == 1
    assert store.get(old.key).status == "resolved"
    assert store.get(new.key).status == "firing"
    assert store.resolve_left_out(["shared"], "alertmanager", "2026-12-05T00:00Z") == 0
    assert store.get(new.key).status == "firing"
    # No end time: a whole firing group left it out, whatever its start.
    assert store.resolve_left_out(["shared"], "pagerduty", "") == 1
    assert store.get(new.key).status == "resolved"


def test_one_instant_is_one_occurrence_however_spelt(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    [first] = store.receive([_alert(starts_at="2026-12-04T10:00:00Z")])
    store.receive([_alert(status="resolved", starts_at="2026-12-04T10:00:00Z")])

    for spelling in (
        "2026-12-04T10:00:00.000Z",
        "2026-12-04t10:00:00z",
        "2026-12-04T11:00:00+01:00",
        "2026-12-04T10:00:00+0000",
    ):
        [copy] = store.receive([_alert(starts_at=spelling)])
        assert copy.key == first.key, spelling
        assert copy.status == "resolved"
    assert alert_key(_alert(starts_at="2026-12-04T10:00:00.5Z")) != first.key


def test_nanoseconds_survive_an_offset():
    from recommender.impact import canonical_time

    utc = canonical_time("2026-12-06T10:00:00.123456789Z")
    assert canonical_time("2026-12-06T11:00:00.123456789+01:00") == utc
    assert canonical_time("2026-12-06T08:30:00.123456789-0130") == utc
