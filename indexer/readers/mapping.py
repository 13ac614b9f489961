"""Field mappings from CSV columns or JSON paths to record fields, and the presets."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from indexer import limited_yaml
from indexer.errors import ConfigurationError
from indexer.record import SECTION_NAMES, Kind

# Keys a mapping YAML file may contain. "description" is free text for people.
MAPPING_KEYS = (
    "description",
    "kind",
    "kind_field",
    "records",
    "id",
    "title",
    "sections",
    "labels",
    "severity",
    "started_at",
    "ended_at",
)
# Path of a record's key when the records are a JSON object keyed by id.
KEY_PATH = "$key"

_PATH_SEGMENT = re.compile(r"([^.\[\]]*)((?:\[[^\[\]]*\])*)")

Paths = tuple[str, ...]


# Prefixes of FieldMapping.spec.
logger = logging.getLogger(__name__)

PRESET_SPEC = "preset:"
YAML_SPEC = "yaml:"


@dataclass(frozen=True)
class FieldMapping:
    """Where each record field comes from in a CSV, JSON or JSON Lines export.

    A path is a CSV column name, or a dotted path into a JSON record such as
    ``root cause.label[0].layer-2``, where keys may contain spaces and hyphens,
    ``[n]`` picks a list item, ``[*]`` every item and ``[field=value]`` the items
    whose field has that value (``custom_field_entries[custom_field.name=Root
    cause].values[*].value_text``). ``$key`` is the key of the
    record when the records are a JSON object keyed by id. Every field lists
    alternative paths, and the first one with a non-empty value wins.

    Attributes:
        name: Preset name or mapping file path, used in messages.
        title: Paths of the title. Required.
        id: Paths of the record id. Without them ids are derived from the file
            name and a hash of title and start time.
        kind: Kind of every record, unless kind_field has a value.
        kind_field: Paths of a per-record kind (incident, postmortem, runbook).
        records: Dotted path in a JSON document to the list, or the object keyed
            by id, of the records. None means the document itself.
        sections: Canonical section name to paths.
        labels: Label key to paths.
        severity: Paths of the severity or priority.
        started_at: Paths of the start time.
        ended_at: Paths of the resolution time.
        spec: Source that mapping_from_spec() rebuilds the mapping from:
            "preset:NAME", or "yaml:" and a JSON object of the mapping file's
            path and text. It is stored per source file, so that a later sync
            reads the file the same way.
    """

    name: str
    title: Paths
    id: Paths = ()
    kind: Kind = Kind.INCIDENT
    kind_field: Paths = ()
    records: str | None = None
    sections: Mapping[str, Paths] = field(default_factory=dict)
    labels: Mapping[str, Paths] = field(default_factory=dict)
    severity: Paths = ()
    started_at: Paths = ()
    ended_at: Paths = ()
    spec: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str) -> FieldMapping:
        """Build and validate a mapping from the dict in a mapping YAML file.

        Raises:
            ConfigurationError: A key, section name, kind or path is invalid, or
                the title path is missing. The message names the key and shows
                the allowed values.
        """
        unknown = sorted(set(data) - set(MAPPING_KEYS))
        if unknown:
            raise ConfigurationError(
                f"mapping {name}: unknown key {unknown[0]!r}; "
                f"allowed keys are {', '.join(MAPPING_KEYS)}"
            )
        if not data.get("title"):
            raise ConfigurationError(
                f"mapping {name}: missing 'title'; set it to the column or JSON "
                "path that holds each record's title"
            )

        return cls(
            name=name,
            title=_paths(data["title"], "title", name),
            id=_paths(data.get("id"), "id", name),
            kind=_kind(data.get("kind"), name),
            kind_field=_paths(data.get("kind_field"), "kind_field", name),
            records=_records_path(data.get("records"), name),
            sections=_sections(data.get("sections"), name),
            labels=_labels(data.get("labels"), name),
            severity=_paths(data.get("severity"), "severity", name),
            started_at=_paths(data.get("started_at"), "started_at", name),
            ended_at=_paths(data.get("ended_at"), "ended_at", name),
        )


@dataclass(frozen=True)
class ItemFilter:
    """A path step ``[field=value]``: the items of a list whose field has a value.

    On an object rather than a list, the step keeps the object when it matches.
    An index right after a filter picks among the matches: ``[name=x][0]`` is
    the first item named x.

    Tools such as incident.io keep custom fields and timestamps as lists of
    objects that carry their own name ({"custom_field": {"name": "Root cause"},
    ...}), so a mapping finds a field by that name instead of by its position.
    The comparison ignores case and surrounding spaces.

    Attributes:
        path: The path of the field inside each item.
        value: The value the field must have.
    """

    path: str
    value: str

    def matches(self, item: Any) -> bool:
        """Return whether item is an object whose field has the filter's value."""
        if not isinstance(item, Mapping):
            return False
        found, value = find_value(item, self.path)
        return found and render_value(value).casefold() == self.value.casefold()


Step = str | int | None | ItemFilter


@functools.lru_cache(maxsize=1024)
def parse_path(path: str) -> tuple[Step, ...]:
    """Split a dotted JSON path into keys, list indexes, None for ``[*]`` and filters.

    NOTE: a JSON key that contains "." or "[" cannot be addressed, because the path
    syntax has no escaping.

    Raises:
        ValueError: The path has unbalanced brackets, or a bracket has neither
            an index, ``*`` nor ``field=value``.
    """
    steps: list[Step] = []
    if path.count("[") != path.count("]"):
        raise ValueError(
            f"invalid path {path!r}: its [ and ] do not pair up; close every "
            "list step, as in [0], [*] or [field=value]"
        )
    for part in _split_dots(path):
        match = _PATH_SEGMENT.fullmatch(part)
        if match is None or not part:
            raise ValueError(
                f"invalid path {path!r} at {part!r}: separate keys with single dots "
                "and write list steps as [0], [*] or [field=value], with no brackets "
                "inside a step"
            )
        key, brackets = match.groups()
        if key:
            steps.append(key)
        for inside in re.findall(r"\[([^\[\]]*)\]", brackets):
            steps.append(_list_step(path, inside))
    return tuple(steps)


def _split_dots(path: str) -> list[str]:
    """Split a path on the dots outside brackets, which a filter's path may hold."""
    parts, depth, start = [], 0, 0
    for position, character in enumerate(path):
        if character == "[":
            depth += 1
        elif character == "]":
            depth -= 1
        elif character == "." and depth == 0:
            parts.append(path[start:position])
            start = position + 1
    parts.append(path[start:])
    return parts


def _list_step(path: str, inside: str) -> Step:
    if inside == "*":
        return None
    if inside.isascii() and inside.isdigit():
        return int(inside)
    field_path, equals, value = (part.strip() for part in inside.partition("="))
    if not equals:
        raise ValueError(
            f"invalid path {path!r} at [{inside}]: write list steps as [0], [*] "
            "or [field=value]"
        )
    if not field_path or not value:
        raise ValueError(
            f"invalid path {path!r} at [{inside}]: a filter needs both a field "
            "and a value, as in [name=Root cause]"
        )
    if field_path.endswith(("!", "<", ">", "~")) or value.startswith(("=", "~")):
        raise ValueError(
            f"invalid path {path!r} at [{inside}]: a filter compares with = only; "
            "write [field=value]"
        )
    # A value quoted as in JSONPath ('Root cause') means the words inside.
    if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1].strip()
        if not value:
            raise ValueError(
                f"invalid path {path!r} at [{inside}]: a filter needs both a field "
                "and a value, as in [name=Root cause]"
            )
    parse_path(field_path)
    return ItemFilter(field_path, value)


def find_value(
    record: Mapping[str, Any], path: str, key: str | None = None, flat: bool = False
) -> tuple[bool, Any]:
    """Look up a path in one record and return whether it exists, and its value.

    Args:
        record: A CSV row (column to value) or a JSON object.
        path: A mapping path, or ``$key``.
        key: The record's key when the records are a JSON object keyed by id.
        flat: True for CSV rows, where the path is a column name. A column is
            found case-insensitively when no column has the exact name.

    Returns:
        (False, None) when the path does not exist. Otherwise True and the value;
        a path with ``[*]`` gives the list of the values it reached.
    """
    if path == KEY_PATH:
        return key is not None, key
    if flat:
        return _find_column(record, path)

    values: list[Any] = [record]
    steps = parse_path(path)
    for position, step in enumerate(steps):
        after_filter = position > 0 and isinstance(steps[position - 1], ItemFilter)
        if isinstance(step, int) and after_filter:
            values = values[step : step + 1]
            continue
        values = [found for value in values for found in _step_into(value, step)]
    if any(step is None or isinstance(step, ItemFilter) for step in steps):
        return bool(values), values
    return bool(values), values[0] if values else None


def render_value(value: Any) -> str:
    """Render a JSON or CSV value as readable text, never as a Python repr.

    Lists of scalars are joined with ", ". Objects become "key: value" lines, with
    nested objects indented. Empty values give "".
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _render_object(value)
    if isinstance(value, list):
        parts = [render_value(item) for item in value]
        parts = [part for part in parts if part]
        scalars = not any(isinstance(item, (dict, list)) for item in value)
        return ", ".join(parts) if scalars else "\n\n".join(parts)
    return str(value).strip()


def _render_object(value: Mapping[Any, Any]) -> str:
    lines = []
    for name, item in value.items():
        text = render_value(item)
        if not text:
            continue
        if "\n" in text:
            indented = "\n".join(
                "  " + line if line else line for line in text.split("\n")
            )
            lines.append(f"{name}:\n{indented}")
        else:
            lines.append(f"{name}: {text}")
    return "\n".join(lines)


def _step_into(value: Any, step: Step) -> list[Any]:
    if step is None:
        return list(value) if isinstance(value, list) else []
    if isinstance(step, ItemFilter):
        items = value if isinstance(value, list) else [value]
        return [item for item in items if step.matches(item)]
    if isinstance(step, int):
        in_range = isinstance(value, list) and step < len(value)
        return [value[step]] if in_range else []
    if isinstance(value, dict) and step in value:
        return [value[step]]
    return []


def _find_column(row: Mapping[str, Any], column: str) -> tuple[bool, Any]:
    if column in row:
        return True, row[column]
    target = column.strip().casefold()
    for name, value in row.items():
        if name.strip().casefold() == target:
            return True, value
    return False, None


def preset_names() -> list[str]:
    """Return the names of the presets shipped in indexer/readers/presets."""
    folder = resources.files("indexer.readers").joinpath("presets")
    names = (entry.name for entry in folder.iterdir() if entry.name.endswith(".yaml"))
    return sorted(name.removesuffix(".yaml") for name in names)


@functools.cache
def get_preset(name: str) -> FieldMapping:
    """Return the preset mapping of that name.

    Raises:
        ConfigurationError: No preset has that name. The message lists them.
    """
    if name not in preset_names():
        raise ConfigurationError(
            f"no mapping preset named {name!r}; presets are {', '.join(preset_names())}"
        )
    resource = resources.files("indexer.readers").joinpath(f"presets/{name}.yaml")
    preset = _mapping_from_yaml(resource.read_text(encoding="utf-8"), name)
    return replace(preset, spec=f"{PRESET_SPEC}{name}")


def load_mapping(name_or_path: str) -> FieldMapping:
    """Return the preset of that name, or else load the mapping YAML file at that path.

    Raises:
        ConfigurationError: The value is neither a preset name nor a readable file,
            or the file is not a valid mapping.
    """
    if name_or_path in preset_names():
        return get_preset(name_or_path)

    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigurationError(
            f"mapping {name_or_path!r} is neither a preset name nor a file; "
            f"use one of the presets {', '.join(preset_names())} "
            "or the path of a mapping YAML file"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"cannot read mapping file {path}: {error}") from error
    spec = json.dumps({"path": str(path.absolute()), "text": text})
    return replace(_mapping_from_yaml(text, str(path)), spec=f"{YAML_SPEC}{spec}")


def mapping_from_spec(spec: str, quiet: bool = False) -> FieldMapping:
    """Rebuild a mapping from its spec (FieldMapping.spec).

    A mapping file that still exists is read again, so that edits to it apply.
    One that is gone is rebuilt from the text stored when it was used, with a
    warning unless quiet is set, for a caller that reads it a second time.

    Raises:
        ConfigurationError: The spec names no preset of this version, or its
            YAML is no longer a valid mapping.
    """
    if spec.startswith(PRESET_SPEC):
        return get_preset(spec.removeprefix(PRESET_SPEC))
    try:
        stored = json.loads(spec.removeprefix(YAML_SPEC))
    except json.JSONDecodeError:
        # Stored by a version that kept the mapping text alone.
        stored = {"path": "", "text": spec.removeprefix(YAML_SPEC)}
    path = Path(stored["path"])
    if stored["path"] and path.is_file():
        return load_mapping(str(path))
    if stored["path"] and not quiet:
        logger.warning(
            "mapping file %s is gone; reading with the copy stored when it was last "
            "read. Pass --mapping to use another mapping",
            path,
        )
    mapping = _mapping_from_yaml(
        stored["text"], f"{path} (as stored; the file is gone)"
    )
    return replace(mapping, spec=spec)


def _mapping_from_yaml(text: str, name: str) -> FieldMapping:
    try:
        data = limited_yaml.load(text)
    except yaml.YAMLError as error:
        raise ConfigurationError(
            f"mapping {name}: {limited_yaml.error_text(error)}; fix the syntax"
        ) from error
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"mapping {name}: expected a YAML mapping of keys "
            f"({', '.join(MAPPING_KEYS)}), got {type(data).__name__}"
        )
    return FieldMapping.from_dict(data, name)


def _paths(value: object, key: str, name: str, required: bool = False) -> Paths:
    if value is None and not required:
        return ()
    items = value if isinstance(value, list) else [value]
    paths = tuple(item.strip() for item in items if isinstance(item, str))
    if not paths or len(paths) != len(items) or not all(paths):
        raise ConfigurationError(
            f"mapping {name}: invalid path for {key!r}: {value!r}; "
            "give a column name or JSON path, or a list of them"
        )

    for path in paths:
        try:
            parse_path(path)
        except ValueError as error:
            raise ConfigurationError(f"mapping {name}: {key}: {error}") from error
    return paths


def _kind(value: object, name: str) -> Kind:
    if value is None:
        return Kind.INCIDENT
    try:
        return Kind(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(kind.value for kind in Kind)
        raise ConfigurationError(
            f"mapping {name}: invalid kind {value!r}; allowed kinds are {allowed}"
        ) from None


def _records_path(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            f"mapping {name}: invalid 'records' {value!r}; give the dotted path "
            "to the list of records in the JSON document"
        )
    try:
        parse_path(value.strip())
    except ValueError as error:
        raise ConfigurationError(f"mapping {name}: records: {error}") from error
    return value.strip()


def _sections(value: object, name: str) -> Mapping[str, Paths]:
    table = _table(value, "sections", name)
    for section in table:
        if section not in SECTION_NAMES:
            raise ConfigurationError(
                f"mapping {name}: unknown section {section!r} under 'sections'; "
                f"allowed sections are {', '.join(SECTION_NAMES)}"
            )
    return table


def _labels(value: object, name: str) -> Mapping[str, Paths]:
    return _table(value, "labels", name)


def _table(value: object, key: str, name: str) -> Mapping[str, Paths]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict):
        raise ConfigurationError(
            f"mapping {name}: {key!r} must map names to paths, got {value!r}"
        )
    table = {
        str(entry): _paths(paths, f"{key}.{entry}", name, required=True)
        for entry, paths in value.items()
    }
    return MappingProxyType(table)
