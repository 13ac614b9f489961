"""The `notifications` section: channels, which incidents go where, and retries.

Channel URLs come only from this section, never from a request. Slack incoming
webhook URLs are credentials, so they are stored as secrets and never logged.
"""

from __future__ import annotations

from typing import Annotated, Literal

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

Event = Literal["opened", "raised", "lowered", "resolved", "reopened"]
# Changes notified when a route does not list its events.
DEFAULT_EVENTS: tuple[Event, ...] = ("opened", "raised", "reopened")
_CHANNEL_NAME = r"^[A-Za-z0-9_.#\-]{1,64}$"


class Channel(BaseModel):
    """A destination of notifications: a generic JSON webhook or a Slack webhook."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["webhook", "slack"]
    url: SecretStr = Field(description="http or https URL; treated as a secret.")
    timeout_seconds: float | None = Field(
        default=None, gt=0, le=120, description="Overrides delivery.timeout_seconds."
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if not text.startswith(("http://", "https://")) or len(text) < 10:
            # The URL itself is left out of the message: it may hold a token.
            raise ValueError("must be an http:// or https:// URL")
        try:
            host = httpx.URL(text).host
        except httpx.InvalidURL:
            host = ""
        if not host or any(char.isspace() for char in text):
            raise ValueError(
                "must be an http:// or https:// URL with a host name and no spaces"
            )
        return value


class Route(BaseModel):
    """A rule that picks the channels of a change; an empty list matches all."""

    model_config = ConfigDict(extra="forbid")

    channels: Annotated[list[str], Field(min_length=1)]
    services: list[str] = Field(default_factory=list)
    severities: list[str] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=lambda: list(DEFAULT_EVENTS))

    def matches(self, services: list[str], severity: str, event: str) -> bool:
        """Return whether an incident's change goes to this route's channels."""
        if event not in self.events:
            return False
        if self.severities and severity not in self.severities:
            return False
        return not self.services or bool(set(self.services) & set(services))


class Delivery(BaseModel):
    """Retry policy of deliveries."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=5, ge=1, le=50)
    initial_backoff_seconds: float = Field(default=2.0, gt=0, le=3600)
    max_backoff_seconds: float = Field(default=300.0, gt=0, le=86400)
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Seconds between the worker's checks for due deliveries.",
    )

    @model_validator(mode="after")
    def _check_backoff(self) -> Delivery:
        if self.initial_backoff_seconds > self.max_backoff_seconds:
            raise ValueError(
                f"initial_backoff_seconds ({self.initial_backoff_seconds:g}) is above "
                f"max_backoff_seconds ({self.max_backoff_seconds:g}); the wait starts "
                "at the first and doubles up to the second, so raise "
                "max_backoff_seconds or lower initial_backoff_seconds"
            )
        return self


class NotificationsConfig(BaseModel):
    """The `notifications` section of the configuration file."""

    model_config = ConfigDict(extra="forbid")

    channels: dict[Annotated[str, Field(pattern=_CHANNEL_NAME)], Channel] = Field(
        default_factory=dict
    )
    routes: list[Route] = Field(default_factory=list)
    delivery: Delivery = Field(default_factory=Delivery)

    @model_validator(mode="after")
    def _check_routes(self) -> NotificationsConfig:
        for position, route in enumerate(self.routes):
            for name in route.channels:
                if name not in self.channels:
                    known = ", ".join(sorted(self.channels)) or "none configured"
                    raise ValueError(
                        f"routes[{position}] names unknown channel {name!r}; "
                        f"channels are: {known}"
                    )
        return self

    def channels_for(self, services: list[str], severity: str, event: str) -> list[str]:
        """Return the channel names that receive this change, each once."""
        names: list[str] = []
        for route in self.routes:
            if route.matches(services, severity, event):
                names += [name for name in route.channels if name not in names]
        return names
