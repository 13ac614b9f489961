"""Text normalisation: strip what changes between firings so it never drives a match."""

from __future__ import annotations

import re

# Go template actions left in alert text, e.g. "{{ $labels.instance }}".
_GO_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_UUID = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE
)
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}(?![\w:])", re.I)
_TIMESTAMP = re.compile(
    r"\b\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
)
_CLOCK = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\b")
# A Deployment's pod name ends in "-<replica set hash>-<5 characters>".
_POD_SUFFIX = re.compile(r"(?<=[a-z0-9])-[a-z0-9]{6,10}-[a-z0-9]{5}\b")
# A bare 5-character suffix counts only when it mixes letters and digits, so that
# ordinary words such as "-proxy" survive.
_SHORT_SUFFIX = re.compile(r"(?<=[a-z])-(?=[a-z0-9]{5}\b)(?=[a-z]*\d)[a-z0-9]{5}\b")
_HEX = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.IGNORECASE)
# Measured values ("93.4%", "1234567"): error codes such as 503 or 0x509 stay.
_MEASUREMENT = re.compile(r"\b\d+\.\d+\b|\b\d{5,}\b")
_SPACES = re.compile(r"[ \t]+")
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_WORD = re.compile(r"\b[A-Za-z][A-Za-z0-9]+\b")
# Word tokens as the FTS5 unicode61 tokenizer splits them.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def strip_templates(text: str) -> str:
    """Remove Go template actions that an alert rule failed to render."""
    return _GO_TEMPLATE.sub(" ", text)


def strip_volatile(text: str) -> str:
    """Remove tokens that differ between two firings of the same problem.

    Removes UUIDs, IP addresses with ports, timestamps, clock times, pod hash
    suffixes, long hex ids and measured values. Short numbers are kept because
    they are often error or status codes.
    """
    text = strip_templates(text)
    text = _POD_SUFFIX.sub("", text)
    text = _SHORT_SUFFIX.sub("", text)
    for pattern in (_UUID, _TIMESTAMP, _IPV4, _IPV6, _CLOCK, _HEX):
        text = pattern.sub(" ", text)
    text = _MEASUREMENT.sub(" ", text)
    return _collapse(text)


def split_identifier(name: str) -> list[str]:
    """Split a CamelCase name such as KubePodCrashLooping into its lower-case words."""
    return [part.lower() for part in _CAMEL_PART.findall(name)]


def expand_identifiers(text: str) -> str:
    """Append the words of each CamelCase identifier so keyword search finds both."""
    extra = []
    for word in set(_WORD.findall(text)):
        parts = split_identifier(word)
        if len(parts) > 1 and not word.isupper():
            extra.append(" ".join(parts))
    extra.sort()
    return text if not extra else text + " " + " ".join(extra)


def normalize_text(text: str) -> str:
    """Return text ready to embed or index: templates and volatile tokens removed."""
    return strip_volatile(text)


def _collapse(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def tokenize(text_value: str) -> list[str]:
    """Split text into lower-case word tokens the way the FTS5 index does."""
    return _TOKEN.findall(text_value.lower())
