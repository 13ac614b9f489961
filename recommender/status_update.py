"""Status updates for stakeholders and chat, rendered from Jinja2 templates.

Templates come from the package (recommender/templates/), a folder named in the
`status_update` section of the configuration file, or inline text in that section.
A custom template replaces a built-in one of the same name. Templates render in a
sandboxed environment with StrictUndefined. Each is rendered once against sample
updates when it is loaded, so a syntax error or an unknown variable is reported
with the template's name and line before any incident needs it.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

from jinja2 import (
    ChoiceLoader,
    DictLoader,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
)
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field

from indexer.errors import ConfigurationError
from indexer.severity import normalize_severity
from recommender.alerts import Alert, parse_alertmanager, parse_plain
from recommender.config import config_section
from recommender.errors import InvalidAlertError
from recommender.recommendation import Recommendation
from recommender.responders import ResponderSuggestion
from recommender.severity_policy import load_scale

logger = logging.getLogger(__name__)

BUILTIN_TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_SUFFIX = ".j2"
# Labels that name the instances an alert fires on, most specific first.
INSTANCE_LABELS = ("instance", "pod", "node", "host", "persistentvolumeclaim")
# Root causes and fixes shown in an update; the full list is in the recommendation.
MAX_CAUSES = 3
MAX_NEXT_STEPS = 5


# The levels a status update names its severity by.
STANDARD_LEVELS = ("SEV1", "SEV2", "SEV3", "SEV4")
# A week: a longer interval means no update is promised at all.
MAX_INTERVAL_MINUTES = 7 * 24 * 60


class StatusUpdateConfig(BaseModel):
    """The `status_update` section of the configuration file."""

    model_config = ConfigDict(extra="forbid")

    templates_dir: Path | None = Field(
        default=None,
        description="Folder of NAME.j2 templates, relative to the configuration file.",
    )
    templates: dict[str, str] = Field(
        default_factory=dict, description="Inline templates by name."
    )
    default_template: str = "stakeholder"
    update_interval_minutes: dict[
        str, Annotated[int, Field(strict=True, ge=1, le=MAX_INTERVAL_MINUTES)]
    ] = Field(
        default_factory=lambda: {"SEV1": 30, "SEV2": 60, "SEV3": 240, "SEV4": 1440}
    )
    default_interval_minutes: int = Field(
        default=120, strict=True, ge=1, le=MAX_INTERVAL_MINUTES
    )


@dataclass
class StatusUpdate:
    """A rendered update and the data it was rendered from."""

    template: str
    text: str
    context: dict[str, Any] = field(default_factory=dict)


class StatusUpdater:
    """Renders recommendations into status updates with checked templates."""

    def __init__(
        self,
        config: StatusUpdateConfig,
        config_path: Path | None = None,
        level_names: dict[str, str] | None = None,
    ):
        """Load and check every template; raises ConfigurationError on a bad one.

        level_names maps SEV1 to SEV4 to the names of a custom severity scale,
        so that an update names its level as the team's scale does.
        """
        self.config = config
        self.level_names = level_names or {}
        self.environment = _environment(config, config_path)
        self.templates = {
            name: self._load(name) for name in _template_names(config, config_path)
        }
        if config.default_template not in self.templates:
            raise ConfigurationError(
                f"status_update.default_template {config.default_template!r} is not "
                f"a template; available: {', '.join(sorted(self.templates))}"
            )
        logger.info("status update templates: %s", ", ".join(sorted(self.templates)))

    def render(
        self,
        alerts: list[Alert],
        recommendation: Recommendation,
        responders: ResponderSuggestion | None = None,
        template: str | None = None,
        now: datetime | None = None,
    ) -> StatusUpdate:
        """Render one update for a group of firing alerts of the same problem."""
        name = template or self.config.default_template
        if name not in self.templates:
            raise KeyError(name)
        context = build_context(
            alerts, recommendation, responders, self.config, now or _now()
        )
        standard = context["severity"]
        context["severity"] = self.level_names.get(standard, standard)
        loaded = self.templates[name]
        try:
            text = loaded.render(context)
        except Exception as error:
            # The load check renders two sample updates, so an error in a branch
            # they skip (a missing variable under a label test) is raised here.
            raise _template_failure(name, error, loaded, sorted(context)) from error
        return StatusUpdate(template=name, text=text.strip() + "\n", context=context)

    def _load(self, name: str) -> Template:
        try:
            loaded = self.environment.get_template(name + TEMPLATE_SUFFIX)
        except TemplateSyntaxError as error:
            raise ConfigurationError(
                f"status update template {name!r} has a syntax error at line "
                f"{error.lineno}: {error.message}"
            ) from error
        for sample in _sample_contexts():
            try:
                loaded.render(sample)
            except Exception as error:
                # Sandboxed templates still run arithmetic and loops, which
                # raise ZeroDivisionError or OverflowError, not TemplateError.
                raise _template_failure(name, error, loaded, sorted(sample)) from error
        return loaded


def load_status_updater(path: Path | None) -> StatusUpdater:
    """Return a StatusUpdater for the configuration file, or the built-ins.

    Raises:
        ConfigurationError: A template is broken, or update_interval_minutes
            names a level that the severity scale does not have, which would
            never be used.
    """
    config = config_section(path, "status_update", StatusUpdateConfig)
    scale = load_scale(path)
    intervals = config.update_interval_minutes
    unknown = sorted(set(intervals) - set(scale.names) - set(STANDARD_LEVELS))
    if unknown:
        raise ConfigurationError(
            f"status_update.update_interval_minutes names {', '.join(unknown)}, "
            f"which is neither a level of the severity scale "
            f"({', '.join(scale.names)}) nor one of {', '.join(STANDARD_LEVELS)}"
        )
    # Updates name their severity SEV1 to SEV4, so an interval given for a level
    # of a custom scale applies to the standard levels that map onto it.
    standard = {
        level: intervals[name]
        for level in STANDARD_LEVELS
        if (name := scale.normalize(level)) in intervals
    }
    standard.update({k: v for k, v in intervals.items() if k in STANDARD_LEVELS})
    names = {level: scale.normalize(level) or level for level in STANDARD_LEVELS}
    return StatusUpdater(
        config.model_copy(update={"update_interval_minutes": standard}), path, names
    )


def firing_alerts(payload: object, field: str) -> list[Alert]:
    """Return the firing alerts of a plain alert or an Alertmanager webhook.

    Raises InvalidAlertError naming field when none fires, with the first
    rejected alert's reason when there is one.
    """
    if isinstance(payload, dict) and "alerts" in payload:
        parsed = parse_alertmanager(payload)
    else:
        parsed = [parse_plain(payload)]
    firing = [
        item for item in parsed if isinstance(item, Alert) and item.status == "firing"
    ]
    if firing:
        return firing
    rejected = [item for item in parsed if isinstance(item, InvalidAlertError)]
    if rejected:
        raise rejected[0]
    raise InvalidAlertError(
        field, "contains no firing alert, so there is no update to write"
    )


def build_context(
    alerts: list[Alert],
    recommendation: Recommendation,
    responders: ResponderSuggestion | None,
    config: StatusUpdateConfig,
    now: datetime,
) -> dict[str, Any]:
    """Return the variables passed to a template."""
    first = alerts[0]
    severity = _severity(first, recommendation)
    interval = config.update_interval_minutes.get(
        severity or "", config.default_interval_minutes
    )
    instances = list(
        dict.fromkeys(
            value for alert in alerts for value in (_instance(alert),) if value
        )
    )
    precedents = [
        m for m in recommendation.matches if m.score >= recommendation.precedent_bar
    ]
    # Fixes taken from matches below the threshold are leads, not next steps, so an
    # update without a close precedent suggests no fix either.
    fixes = [
        fix for fix in recommendation.fixes if not getattr(fix, "low_confidence", False)
    ]
    return {
        "alert": {
            "name": first.alertname or "(no alertname)",
            "title": first.title,
            "description": first.description,
            "service": first.service or "unknown service",
            "starts_at": first.starts_at or "",
            "labels": dict(first.labels),
            "count": len(alerts),
        },
        "instances": instances,
        "severity": severity or "unknown",
        "severity_confidence": recommendation.severity.confidence,
        "no_close_precedent": recommendation.no_close_precedent,
        "message": recommendation.message,
        "causes": [_suggestion(s) for s in recommendation.root_causes[:MAX_CAUSES]],
        "next_steps": [_suggestion(s) for s in fixes[:MAX_NEXT_STEPS]],
        "precedents": [
            {"id": m.record.id, "title": m.record.title, "score": round(m.score, 2)}
            for m in precedents
        ],
        "responders": [asdict(r) for r in responders.responders] if responders else [],
        "owning_team": responders.owning_team if responders else None,
        "now": _format_time(now),
        "next_update_at": _format_time(now + timedelta(minutes=interval)),
        "update_interval_minutes": interval,
    }


def _severity(alert: Alert, recommendation: Recommendation) -> str | None:
    """Return the suggested severity, else the alert's own label on the one scale."""
    if recommendation.severity.value is not None:
        return recommendation.severity.value.value
    normalized = normalize_severity(alert.severity) if alert.severity else None
    return normalized.value if normalized else None


def _instance(alert: Alert) -> str:
    for label in INSTANCE_LABELS:
        if alert.labels.get(label):
            return alert.labels[label]
    return ""


def _suggestion(suggestion: Any) -> dict[str, Any]:
    return {
        "text": suggestion.text,
        "confidence": round(float(suggestion.confidence), 2),
        "evidence": list(suggestion.evidence),
    }


def _format_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _environment(
    config: StatusUpdateConfig, config_path: Path | None
) -> SandboxedEnvironment:
    loaders: list[Any] = [
        DictLoader(
            {name + TEMPLATE_SUFFIX: text for name, text in config.templates.items()}
        )
    ]
    folder = _templates_dir(config, config_path)
    if folder is not None:
        loaders.append(FileSystemLoader(folder))
    loaders.append(FileSystemLoader(BUILTIN_TEMPLATES))
    return SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _templates_dir(config: StatusUpdateConfig, config_path: Path | None) -> Path | None:
    if config.templates_dir is None:
        return None
    folder = config.templates_dir
    if not folder.is_absolute() and config_path is not None:
        folder = Path(config_path).resolve().parent / folder
    if not folder.is_dir():
        raise ConfigurationError(
            f"status_update.templates_dir {folder} is not a folder; create it or "
            "fix the path (relative paths start at the configuration file)"
        )
    return folder


def _template_names(config: StatusUpdateConfig, config_path: Path | None) -> list[str]:
    names = {
        p.name.removesuffix(TEMPLATE_SUFFIX)
        for p in BUILTIN_TEMPLATES.glob("*" + TEMPLATE_SUFFIX)
    }
    folder = _templates_dir(config, config_path)
    if folder is not None:
        names |= {
            p.name.removesuffix(TEMPLATE_SUFFIX)
            for p in folder.glob("*" + TEMPLATE_SUFFIX)
        }
    names |= set(config.templates)
    return sorted(names)


def _template_failure(
    name: str, error: Exception, template: Template, variables: list[str]
) -> ConfigurationError:
    """Return the error that names a failed template, its line and the reason."""
    line = _template_line(error, template)
    where = f" at line {line}" if line else ""
    reason = str(error).rstrip(".") or type(error).__name__
    if not isinstance(error, TemplateError):
        reason = f"{type(error).__name__}: {reason}"
    return ConfigurationError(
        f"status update template {name!r} failed{where}: {reason}; it may use "
        f"these variables: {', '.join(variables)}"
    )


def _template_line(error: Exception, template: Template) -> int | None:
    """Return the template line an error was raised from, if the traceback shows it."""
    lineno = getattr(error, "lineno", None)
    if lineno:
        return int(lineno)
    names = {template.filename, "<template>"}
    frames = traceback.extract_tb(error.__traceback__)
    lines = [frame.lineno for frame in frames if frame.filename in names]
    return lines[-1] if lines else None


def _sample_contexts() -> list[dict[str, Any]]:
    """Return a context with a precedent and one without, to check templates."""
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    suggestion = {"text": "A sample cause.", "confidence": 0.5, "evidence": ["PM-1"]}
    responder = {
        "name": "sre",
        "role": "incident_commander",
        "reason": "sample",
        "evidence": [],
    }
    common = {
        "alert": {
            "name": "SampleAlert",
            "title": "Sample",
            "description": "",
            "service": "sample-service",
            "starts_at": "",
            "labels": {},
            "count": 1,
        },
        "instances": ["sample-0"],
        "severity": "SEV2",
        "severity_confidence": 0.5,
        "message": "sample",
        "owning_team": "sre",
        "now": _format_time(now),
        "next_update_at": _format_time(now + timedelta(minutes=60)),
        "update_interval_minutes": 60,
    }
    with_precedent = {
        **common,
        "no_close_precedent": False,
        "causes": [suggestion],
        "next_steps": [suggestion],
        "precedents": [{"id": "PM-1", "title": "Sample", "score": 0.8}],
        "responders": [responder],
    }
    without = {
        **common,
        "no_close_precedent": True,
        "causes": [],
        "next_steps": [],
        "precedents": [],
        "responders": [],
        "owning_team": None,
        "instances": [],
    }
    return [with_precedent, without]
