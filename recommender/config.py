"""The response configuration file: severity scale, responders, channels, templates.

Environment variables hold the service's own settings. What a team tunes about its
incident process (who owns which service, where notifications go, how severity is
defined) is structured and long, so it lives in one YAML file named by
INCIDENT_CONFIG. Each feature declares its section as a pydantic model and reads it
with `config_section`, so a typo in the file is reported with the section and field.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from indexer import limited_yaml
from indexer.errors import ConfigurationError

logger = logging.getLogger(__name__)

# Top-level sections the file may hold; a feature adds its name here.
KNOWN_SECTIONS: tuple[str, ...] = (
    "severity",
    "responders",
    "notifications",
    "status_update",
)

SectionT = TypeVar("SectionT", bound=BaseModel)


def read_config_file(path: Path | None) -> dict[str, Any]:
    """Return the parsed file as a mapping of section to value, {} without a file."""
    if path is None:
        return {}
    return dict(_read(Path(path).resolve()))


def config_section(path: Path | None, name: str, model: type[SectionT]) -> SectionT:
    """Return section `name` of the file validated as `model`, or its defaults.

    Raises ConfigurationError naming the file, the section, the field and the problem.
    """
    raw = read_config_file(path).get(name)
    if raw is None:
        return model()
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            problems.append(f"{field_path((name, *item['loc']))}: {item['msg']}")
        raise ConfigurationError(
            f"invalid configuration in {path}: " + "; ".join(problems)
        ) from error


def field_path(location: Sequence[object]) -> str:
    """Return a field location as YAML users read it: routes[0].events[1]."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            # pydantic's marker for a mapping key that failed, as in a channel name.
            path += " (name)"
        elif path and not str(part).isidentifier():
            path += f"[{str(part)!r}]"
        else:
            path += f".{part}" if path else str(part)
    return path


@lru_cache(maxsize=8)
def _read(path: Path) -> dict[str, Any]:
    """Parse the file once per process; the service reads it again only on restart."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"configuration file {path} does not exist; set INCIDENT_CONFIG to an "
            "existing YAML file or unset it to use the defaults"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(
            f"cannot read configuration file {path}: {error}"
        ) from error

    try:
        data = limited_yaml.load(text)
    except yaml.YAMLError as error:
        raise ConfigurationError(
            f"configuration file {path}: {limited_yaml.error_text(error)}"
        ) from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"configuration file {path} must be a mapping of sections "
            f"({', '.join(KNOWN_SECTIONS)}), not a {type(data).__name__}"
        )

    unknown = sorted(str(key) for key in data if key not in KNOWN_SECTIONS)
    if unknown:
        raise ConfigurationError(
            f"configuration file {path} has unknown section(s) {', '.join(unknown)}; "
            f"known sections are {', '.join(KNOWN_SECTIONS)}"
        )
    logger.info("read configuration file %s: sections %s", path, ", ".join(data))
    return data
