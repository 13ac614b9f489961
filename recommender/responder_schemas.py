"""Response bodies for suggested responders, shared by recommendations and updates."""

from __future__ import annotations

from dataclasses import asdict

from pydantic import BaseModel, Field

from recommender.responders import ResponderSuggestion


class ResponderOut(BaseModel):
    """Someone to involve in the response, with the reason."""

    name: str = Field(description="Team, person or rota.")
    role: str = Field(
        description="incident_commander, communications_lead, "
        "subject_matter_expert, service_owner or consulted."
    )
    reason: str = Field(description="Alert label, map entry or matches behind it.")
    evidence: list[str] = Field(description="Ids of the matches behind it.")


class RaciRowOut(BaseModel):
    """The Responsible, Accountable, Consulted and Informed parties of one activity."""

    activity: str
    responsible: list[str]
    accountable: list[str]
    consulted: list[str]
    informed: list[str]


class RespondersOut(BaseModel):
    """Suggested responders for an alert and the filled-in RACI table."""

    owning_team: str | None = Field(description="Team that owns the alert, if known.")
    responders: list[ResponderOut]
    raci: list[RaciRowOut]


def responders_out(suggestion: ResponderSuggestion) -> RespondersOut:
    """Convert a responder suggestion for the API."""
    return RespondersOut(
        owning_team=suggestion.owning_team,
        responders=[ResponderOut(**asdict(r)) for r in suggestion.responders],
        raci=[
            RaciRowOut(activity=activity, **row)
            for activity, row in suggestion.raci.items()
        ],
    )
