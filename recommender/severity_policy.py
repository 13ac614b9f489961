"""The configurable severity scale and the impact rules of the `severity` section.

Without a configuration file the scale is SEV1 to SEV4 with the mappings of
indexer.severity. A team may rename the levels, add or remove some, rewrite their
definitions, map its own words to them and tune when live impact raises or lowers
the severity that history suggests.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from indexer.severity import DEFINITIONS, Severity, normalize_severity
from recommender.config import config_section

_LEVEL_NAME = r"^[A-Za-z0-9_.\-]{1,32}$"


class SeverityLevel(BaseModel):
    """One level of the scale: its name and what it means for responders."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=_LEVEL_NAME)]
    definition: Annotated[str, Field(min_length=1, max_length=500)]


class ImpactRules(BaseModel):
    """When the live impact of an alert group raises or lowers its severity."""

    model_config = ConfigDict(extra="forbid")

    many_alerts: int = Field(
        default=5, ge=2, description="Firing alerts in a group that raise one level."
    )
    many_instances: int = Field(
        default=3, ge=2, description="Distinct instances firing that raise one level."
    )
    many_services: int = Field(
        default=2, ge=2, description="Distinct services firing that raise one level."
    )
    long_firing_minutes: float = Field(
        default=30.0,
        gt=0,
        description="Minutes since the first alert started that raise one level.",
    )
    max_raise: int = Field(
        default=2, ge=0, description="Most levels the count and time rules add."
    )
    customer_facing_label: str = Field(
        default="customer_facing",
        min_length=1,
        description='Label that marks a customer-facing service when "true".',
    )
    customer_facing_services: list[str] = Field(
        default_factory=list, description="Services that are always customer-facing."
    )
    customer_facing_minimum: str | None = Field(
        default=None,
        description="Level a customer-facing group is raised to at least; the "
        "second most severe level when not set.",
    )
    customer_facing_raises: bool = Field(
        default=True,
        description="Raise customer-facing groups to customer_facing_minimum.",
    )
    lower_when_contained: bool = Field(
        default=True,
        description=(
            "Lower one level when a single alert fires on one instance of an "
            "internal service for less than long_firing_minutes."
        ),
    )


class SeverityConfig(BaseModel):
    """The `severity` section of the configuration file."""

    model_config = ConfigDict(extra="forbid")

    levels: list[SeverityLevel] = Field(
        default_factory=lambda: [
            SeverityLevel(name=level.value, definition=DEFINITIONS[level])
            for level in Severity
        ],
        min_length=2,
        max_length=10,
        description="Levels, most severe first.",
    )
    aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Values that tools write (such as P1 or urgent) and their level.",
    )
    default_level: str | None = Field(
        default=None,
        description="Level used when neither history nor labels give one; the "
        "second least severe level when not set.",
    )
    group_by: list[str] = Field(
        default_factory=lambda: ["alertname", "service"],
        min_length=1,
        description="Labels that group alerts into one incident when a webhook "
        "has no groupKey.",
    )
    impact: ImpactRules = Field(default_factory=ImpactRules)

    @model_validator(mode="after")
    def _check_names(self) -> SeverityConfig:
        names = [level.name for level in self.levels]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"level names must be unique, got {duplicates} twice")
        known = ", ".join(names)
        for alias, target in self.aliases.items():
            if target not in names:
                raise ValueError(
                    f"alias {alias!r} maps to unknown level {target!r}; use one of "
                    f"{known}"
                )
        for field_name, value in (
            ("default_level", self.default_level),
            ("impact.customer_facing_minimum", self.impact.customer_facing_minimum),
        ):
            if value is not None and value not in names:
                raise ValueError(
                    f"{field_name} is {value!r}, not a level; use one of {known}"
                )
        return self


class SeverityScale:
    """An ordered severity scale: names, definitions, mapping and level shifts.

    Rank 0 is the most severe level. Values from other tools map to a level by the
    configured aliases first, then by the level names, then through
    normalize_severity, whose SEV1-SEV4 spread evenly over the configured levels.
    """

    def __init__(self, config: SeverityConfig | None = None) -> None:
        self.config = config or SeverityConfig()
        self.names = [level.name for level in self.config.levels]
        self.definitions = {
            level.name: level.definition for level in self.config.levels
        }
        self._aliases = {
            _key(alias): target for alias, target in self.config.aliases.items()
        }
        self._by_name = {_key(name): name for name in self.names}

    @property
    def default_level(self) -> str:
        """Return the configured default, or the second least severe level."""
        return self.config.default_level or self.names[-2]

    @property
    def customer_facing_minimum(self) -> str:
        """Return the level a customer-facing group is raised to at least."""
        return self.config.impact.customer_facing_minimum or self.names[1]

    def normalize(self, raw: object) -> str | None:
        """Map a severity as a tool writes it to a level name, None when unknown."""
        if raw is None or isinstance(raw, bool):
            return None
        key = _key(str(raw))
        if not key:
            return None
        if key in self._aliases:
            return self._aliases[key]
        if key in self._by_name:
            return self._by_name[key]

        standard = normalize_severity(raw)
        if standard is None:
            return None
        return self.names[self._spread(standard.rank - 1)]

    def standard_level(self, raw: object) -> Severity | None:
        """Map an alert's severity label to the SEV1-SEV4 scale of recommendations.

        A configured alias wins, as in normalize(). Otherwise a value that
        normalize_severity() maps keeps that level, and a configured level name
        maps by its position on the scale.
        """
        if raw is None or isinstance(raw, bool):
            return None
        key = _key(str(raw))
        level = self._aliases.get(key)
        if level is None:
            standard = normalize_severity(raw)
            if standard is not None:
                return standard
            level = self._by_name.get(key)
        if level is None:
            return None
        last = len(self.names) - 1
        position = round(self.rank(level) * (len(Severity) - 1) / last)
        return Severity(f"SEV{position + 1}")

    def rank(self, name: str) -> int:
        """Return the position of a level, 0 for the most severe."""
        return self.names.index(name)

    def shift(self, name: str, steps: int) -> str:
        """Return the level `steps` more severe (negative: less severe), clamped."""
        position = min(max(self.rank(name) - steps, 0), len(self.names) - 1)
        return self.names[position]

    def _spread(self, standard_position: int) -> int:
        # SEV1..SEV4 are positions 0..3; spread them over the configured levels.
        last = len(self.names) - 1
        return round(standard_position * last / (len(Severity) - 1))


def _key(value: str) -> str:
    return re.sub(r"\s+", " ", value.strip().lower())


def load_scale(config_path: Path | None) -> SeverityScale:
    """Return the scale of the configuration's `severity` section, or the default."""
    return SeverityScale(config_section(config_path, "severity", SeverityConfig))
