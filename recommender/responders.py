"""Responders for an alert: owning team, incident roles and a RACI table.

Teams come from the alert's own labels, a service-to-team map in the `responders`
section of the configuration file, and the team, owner and service labels of the
matched past incidents. Roles (incident commander, communications lead,
subject-matter expert) are filled from the configuration, and a small RACI table
names who is Responsible, Accountable, Consulted and Informed for each activity.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from indexer.record import IncidentRecord
from recommender.alerts import Alert
from recommender.config import config_section

if TYPE_CHECKING:
    from recommender.recommendation import Recommendation

ROLES = ("incident_commander", "communications_lead", "subject_matter_expert")
RACI_LETTERS = ("responsible", "accountable", "consulted", "informed")
# Placeholders a role or RACI entry may use; they are replaced per alert.
OWNING_TEAM = "{team}"
MATCHED_TEAMS = "{matched_teams}"


class ServiceOwner(BaseModel):
    """The team that owns a service, and optionally a named owner."""

    model_config = ConfigDict(extra="forbid")

    team: str = Field(min_length=1)
    owner: str | None = None


class RaciRow(BaseModel):
    """The Responsible, Accountable, Consulted and Informed parties of one activity.

    Each entry is a role name (such as subject_matter_expert), the placeholder
    {team} or {matched_teams}, or a fixed name such as a mailing list.
    """

    model_config = ConfigDict(extra="forbid")

    responsible: list[str] = Field(default_factory=list)
    accountable: list[str] = Field(default_factory=list)
    consulted: list[str] = Field(default_factory=list)
    informed: list[str] = Field(default_factory=list)


def _default_raci() -> dict[str, RaciRow]:
    return {
        "coordinate the response": RaciRow(
            responsible=["incident_commander"], accountable=["incident_commander"]
        ),
        "diagnose and mitigate": RaciRow(
            responsible=["subject_matter_expert"],
            accountable=["incident_commander"],
            consulted=[MATCHED_TEAMS],
            informed=["communications_lead"],
        ),
        "communicate status": RaciRow(
            responsible=["communications_lead"],
            accountable=["incident_commander"],
            consulted=["subject_matter_expert"],
            informed=["stakeholders"],
        ),
    }


class RespondersConfig(BaseModel):
    """The `responders` section of the configuration file."""

    model_config = ConfigDict(extra="forbid")

    services: dict[str, ServiceOwner] = Field(default_factory=dict)
    roles: dict[str, str] = Field(
        default_factory=lambda: {
            "incident_commander": "on-call incident commander",
            "communications_lead": "on-call communications lead",
            "subject_matter_expert": "{team} on-call",
        }
    )
    raci: dict[str, RaciRow] = Field(default_factory=_default_raci)
    max_consulted_teams: int = Field(default=3, ge=0, le=20)

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise ValueError(
                f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}"
            )
        for role, name in roles.items():
            _check_placeholders(name, f"role {role}")
        return roles

    @field_validator("raci")
    @classmethod
    def _known_placeholders(cls, raci: dict[str, RaciRow]) -> dict[str, RaciRow]:
        for activity, row in raci.items():
            for letter in RACI_LETTERS:
                for entry in getattr(row, letter):
                    _check_placeholders(entry, f"{activity} {letter}")
        return raci


def _check_placeholders(text: str, where: str) -> None:
    """Reject a {word} that is not a placeholder, such as a misspelt {tema}."""
    for word in re.findall(r"\{[^{}]*\}", text):
        if word not in (OWNING_TEAM, MATCHED_TEAMS):
            raise ValueError(
                f"{where}: {word} is not a placeholder; use {OWNING_TEAM} or "
                f"{MATCHED_TEAMS}"
            )


@dataclass
class Responder:
    """Someone to involve, with the reason.

    Attributes:
        name: Team, person or rota.
        role: One of ROLES, or "consulted" for teams of matched incidents.
        reason: Which alert label, map entry or matches led to it.
        evidence: Ids of the matches behind it, empty when it comes from the alert
            or the configuration alone.
    """

    name: str
    role: str
    reason: str
    evidence: list[str] = field(default_factory=list)


@dataclass
class ResponderSuggestion:
    """The responders for one alert and the RACI table filled with their names."""

    owning_team: str | None
    responders: list[Responder]
    raci: dict[str, dict[str, list[str]]]


def load_responders_config(path: Path | None) -> RespondersConfig:
    """Return the `responders` section of the configuration file, or the defaults."""
    return config_section(path, "responders", RespondersConfig)


def suggest_responders(
    alert: Alert,
    matches: Sequence[tuple[IncidentRecord, float]],
    config: RespondersConfig,
    threshold: float,
) -> ResponderSuggestion:
    """Suggest who should respond to an alert, from its matches and their scores.

    Only matches at or above the threshold count as precedents, so a weak match
    never pulls a team in.
    """
    owner_team, owner_reason, named_owner = _owning_team(alert, config)
    precedents = [(record, score) for record, score in matches if score >= threshold]
    team_evidence = _matched_teams(precedents, config)
    if owner_team is None and team_evidence:
        owner_team = max(team_evidence, key=lambda t: team_evidence[t][0])
        owner_reason = "most likely team of the matched past incidents " + ", ".join(
            team_evidence[owner_team][1]
        )

    responders = _role_holders(config, owner_team, owner_reason, team_evidence)
    if named_owner:
        responders.append(
            Responder(
                named_owner,
                "service_owner",
                f"owner of {alert.service} in the service map",
            )
        )
    consulted = [
        Responder(
            name=team,
            role="consulted",
            reason="team of matched past incidents " + ", ".join(ids),
            evidence=list(ids),
        )
        for team, (_, ids) in sorted(
            team_evidence.items(), key=lambda item: -item[1][0]
        )
        if team != owner_team
    ][: config.max_consulted_teams]
    responders += consulted

    raci = _fill_raci(config, responders, owner_team, [r.name for r in consulted])
    return ResponderSuggestion(owner_team, responders, raci)


def responders_for(
    alert: Alert, recommendation: Recommendation, config: RespondersConfig
) -> ResponderSuggestion:
    """Suggest responders from the matches of a recommendation."""
    return suggest_responders(
        alert,
        [(match.record, match.score) for match in recommendation.matches],
        config,
        recommendation.threshold,
    )


def _owning_team(
    alert: Alert, config: RespondersConfig
) -> tuple[str | None, str, str | None]:
    """Return the owning team, why, and a named owner from the service map."""
    service = alert.service
    entry = config.services.get(service) if service else None
    if entry is not None:
        return entry.team, f"service map entry {service}: {entry.team}", entry.owner
    for label in ("team", "owner"):
        value = alert.labels.get(label)
        if value:
            return value, f"alert label {label}={value}", None
    return None, "", None


def _matched_teams(
    precedents: Sequence[tuple[IncidentRecord, float]], config: RespondersConfig
) -> dict[str, tuple[float, list[str]]]:
    """Return each team of the precedents with its summed score and match ids."""
    weights: dict[str, float] = defaultdict(float)
    ids: dict[str, list[str]] = defaultdict(list)
    for record, score in precedents:
        labels = record.labels
        teams = {labels[k] for k in ("team", "owner") if labels.get(k)}
        service_entry = config.services.get(labels.get("service", ""))
        if service_entry is not None:
            teams.add(service_entry.team)
        for team in teams:
            weights[team] += score
            ids[team].append(record.id)
    return {team: (round(weights[team], 4), ids[team]) for team in weights}


def _role_holders(
    config: RespondersConfig,
    owner_team: str | None,
    owner_reason: str,
    team_evidence: dict[str, tuple[float, list[str]]],
) -> list[Responder]:
    holders = []
    for role in ROLES:
        template = config.roles.get(role)
        if not template:
            continue
        if OWNING_TEAM in template and owner_team is None:
            continue  # No team is known, so no subject-matter expert can be named.
        name = template.replace(OWNING_TEAM, owner_team or "")
        if OWNING_TEAM in template:
            reason = owner_reason
            evidence = list(team_evidence.get(owner_team or "", (0.0, []))[1])
        else:
            reason, evidence = f"roles.{role} in the responders configuration", []
        holders.append(Responder(name, role, reason, evidence))
    return holders


def _fill_raci(
    config: RespondersConfig,
    responders: Sequence[Responder],
    owner_team: str | None,
    consulted_teams: list[str],
) -> dict[str, dict[str, list[str]]]:
    """Replace role names and placeholders in the RACI table with names."""
    by_role = {r.role: r.name for r in responders if r.role in ROLES}
    table: dict[str, dict[str, list[str]]] = {}
    for activity, row in config.raci.items():
        filled: dict[str, list[str]] = {}
        for letter in RACI_LETTERS:
            names: list[str] = []
            for entry in getattr(row, letter):
                if entry == MATCHED_TEAMS:
                    names += consulted_teams
                elif entry == OWNING_TEAM:
                    names += [owner_team] if owner_team else []
                elif entry in ROLES:
                    names += [by_role[entry]] if entry in by_role else []
                else:
                    names.append(entry)
            filled[letter] = list(dict.fromkeys(names))
        table[activity] = filled
    return table
