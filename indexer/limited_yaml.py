"""Safe YAML loading in which every value that cannot be built is a YAML error.

PyYAML lets a bare ValueError or OverflowError out for an impossible date
(2024-02-30) or a base-60 float too large for a float, and a RecursionError for
deep nesting. Python converts a decimal string of more than 4,300 digits to an
int only with a ValueError (sys.get_int_max_str_digits()), while hexadecimal,
binary and base-60 integers are built without that bound and fail later, when
printed. Here each is a YAML error, with the value's line where it has one,
which every caller already reports.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# Python's default limit on the digits of an int converted from or to text.
MAX_INTEGER_DIGITS = 4_300
# The smallest int with more digits than that.
_TOO_LARGE = 10**MAX_INTEGER_DIGITS
TOO_LONG = f"a number too long to read (over {MAX_INTEGER_DIGITS:,} digits); quote it"
# PyYAML builds nested lists and mappings by recursion.
NESTED_TOO_DEEPLY = "the YAML is nested too deeply to read"
# More [ and { inside each other than any configuration or rule file needs.
MAX_FLOW_DEPTH = 200
# Values a YAML stream may expand to, aliases counted at the size of their
# anchors: far above a rule file of 5,000 rules (about 100,000 values).
MAX_VALUES = 1_000_000


# Longer integer text is refused before it is converted: base-60 conversion
# takes time growing with the square of the length (20 s for 1 MiB). An int of
# 4,300 decimal digits takes about 14,300 characters in binary, the longest base.
MAX_INTEGER_TEXT = 20_000


class LimitedLoader(yaml.SafeLoader):
    """yaml.SafeLoader that raises a ConstructorError for any value it cannot build."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Build a value; a value that cannot be built raises a ConstructorError."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as error:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read the value: {error}", node.start_mark
            ) from None

    def construct_mapping(
        self, node: yaml.MappingNode, deep: bool = False
    ) -> dict[Any, Any]:
        """Build a mapping, or raise a ConstructorError for a key given twice.

        PyYAML keeps the last value of a repeated key and reports nothing, so a
        second `severity:` in front matter would replace the first unnoticed.
        Keys merged in with `<<` may still be overridden.
        """
        # The error gives the line of the second key only, because callers
        # shift that line into the file (front matter starts below its '---').
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key_node.value!r}: the mapping already has "
                    "it above; keep one of them",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node: yaml.Node) -> Any:
        """Build an int, or raise a ConstructorError for one too long to print."""
        if len(str(getattr(node, "value", ""))) > MAX_INTEGER_TEXT:
            raise yaml.constructor.ConstructorError(
                None, None, TOO_LONG, node.start_mark
            )
        try:
            value = super().construct_yaml_int(node)  # type: ignore[arg-type]
        except ValueError as error:
            too_long = len(str(getattr(node, "value", ""))) > MAX_INTEGER_DIGITS
            message = TOO_LONG if too_long else f"cannot read the value: {error}"
            raise yaml.constructor.ConstructorError(
                None, None, message, node.start_mark
            ) from None
        if abs(value) >= _TOO_LARGE:
            raise yaml.constructor.ConstructorError(
                None, None, TOO_LONG, node.start_mark
            )
        return value


LimitedLoader.add_constructor("tag:yaml.org,2002:int", LimitedLoader.construct_yaml_int)

# Booleans as YAML 1.2 and Go's yaml.v3 (which Prometheus uses) read them: only
# true and false. YAML 1.1 also reads yes, no, on and off as booleans, so a rule
# label `on: x` became the key True and clashed with a label `yes`.
_BOOL_TAG = "tag:yaml.org,2002:bool"
LimitedLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
LimitedLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def error_text(error: yaml.YAMLError) -> str:
    """Return a one-line reason with the line and column where parsing failed.

    PyYAML's own text names the input "<unicode string>" and draws a caret
    under a copy of the line, which reads badly inside a one-line message.
    """
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if mark is None:
        return f"not valid YAML: {problem}"
    return (
        f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    )


def load(text: str) -> Any:
    """Parse one YAML document; raises yaml.YAMLError for any problem."""
    check_size(text)
    try:
        return yaml.load(text, Loader=LimitedLoader)
    except RecursionError:
        raise yaml.YAMLError(NESTED_TOO_DEEPLY) from None


def load_all(text: str) -> list[Any]:
    """Parse every document of a YAML stream; raises yaml.YAMLError for any problem."""
    check_size(text)
    try:
        return list(yaml.load_all(text, Loader=LimitedLoader))
    except RecursionError:
        raise yaml.YAMLError(NESTED_TOO_DEEPLY) from None


def check_depth(text: str) -> None:
    """Raise yaml.YAMLError when [ and { nest deeper than MAX_FLOW_DEPTH."""
    depth = deepest = 0
    for character in text:
        if character in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif character in "]}":
            depth -= 1
    if deepest > MAX_FLOW_DEPTH:
        raise yaml.YAMLError(NESTED_TOO_DEEPLY)


def check_size(text: str) -> None:
    """Raise yaml.YAMLError for text nested too deeply or expanding too far.

    Both are checked before anything is built. PyYAML's scanner takes time
    growing with the square of the depth of [ and { (18 s for 16,000 levels),
    so the depth is counted on the raw text first. Aliases copy their anchors,
    and nested ones multiply: 534 bytes of them built 10 million values. So the
    values of the whole stream are counted from its events, each alias as the
    size of its anchor.
    """
    check_depth(text)

    sizes: dict[str, int] = {}
    # One [anchor, values so far] per open sequence or mapping; the root is first.
    open_nodes: list[list[Any]] = [[None, 0]]
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.ScalarEvent):
            added = 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            added = sizes.get(event.anchor or "", 1)
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            open_nodes.append([event.anchor, 1])
            continue
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, added = open_nodes.pop()
            if anchor:
                sizes[anchor] = added
        else:
            continue
        open_nodes[-1][1] += added
        if open_nodes[-1][1] > MAX_VALUES or added > MAX_VALUES:
            raise yaml.YAMLError(
                f"the YAML expands to more than {MAX_VALUES:,} values through its "
                "aliases (*name); write the repeated parts out"
            )
