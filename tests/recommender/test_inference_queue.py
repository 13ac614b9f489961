"""Admission to the recommendation queue, counted in alerts."""

import asyncio

import pytest

from recommender.inference_queue import (
    INITIAL_ESTIMATE_SECONDS,
    InferenceQueue,
    QueueFullError,
)


def _admitted(queue: InferenceQueue, alerts: int) -> bool:
    async def enter() -> bool:
        try:
            async with queue.slot(alerts):
                return True
        except QueueFullError:
            return False

    return asyncio.run(enter())


ADMISSION = [
    # (alerts already in line, alerts in the new request, admitted)
    (0, 1, True),
    (0, 1000, True),
    (3, 1, True),
    (3, 2, False),
    (1, 20, False),
    (4, 1, False),
]


@pytest.mark.parametrize(("pending", "alerts", "admitted"), ADMISSION)
def test_admission_counts_alerts(pending, alerts, admitted):
    queue = InferenceQueue(max_pending=4, workers=2)
    queue.pending = pending
    assert _admitted(queue, alerts) is admitted
    assert queue.pending == pending


def test_large_group_holds_its_alerts():
    async def run() -> None:
        queue = InferenceQueue(max_pending=4, workers=2)
        async with queue.slot(20) as finish_one:
            assert queue.pending == 20
            with pytest.raises(QueueFullError) as error:
                async with queue.slot(1):
                    pass
            expected = round(INITIAL_ESTIMATE_SECONDS * 20 / 2)
            assert error.value.retry_after == expected
            assert "20 alerts are already computing" in str(error.value)

            finish_one()
            finish_one()
            assert queue.pending == 18
        assert queue.pending == 0

    asyncio.run(run())
