"""The uvicorn server that `recommender serve` runs."""

from __future__ import annotations

from types import FrameType

import uvicorn

from recommender.readiness import Readiness


class StoppingServer(uvicorn.Server):
    """uvicorn's server, which marks the service as stopping on SIGTERM or SIGINT.

    uvicorn lets open requests finish before it stops. Requests that wait for
    the loader would hold a SIGTERM up to INCIDENT_READY_WAIT, past the grace
    period of an orchestrator (30 s by default in Kubernetes).
    """

    def __init__(self, config: uvicorn.Config, readiness: Readiness) -> None:
        super().__init__(config)
        self.readiness = readiness

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Mark the service as stopping, then stop as uvicorn does."""
        self.readiness.stopping = True
        super().handle_exit(sig, frame)
