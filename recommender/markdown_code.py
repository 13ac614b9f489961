"""Code blocks in Markdown text, found by a CommonMark parser.

A parser is used because CommonMark decides by context whether an indented line
is code. Four spaces after a blank line start an indented code block at the top
level, but inside a list item they continue the item's text.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

# Only the block structure matters here, so inline parsing (emphasis, links) is off.
_PARSER = MarkdownIt("commonmark").disable("inline")
_CODE_TOKENS = ("fence", "code_block")
# Line endings as CommonMark defines them and markdown-it-py normalises them, so
# that the line numbers of its tokens index these lines.
_LINE_BREAK = re.compile(r"\r\n?|\n")


def code_parts(text: str) -> list[tuple[str, list[str]]]:
    """Split Markdown into prose lines and code blocks, as CommonMark does.

    Code blocks are fenced blocks and indented blocks (four spaces or a tab
    after a blank line), also inside blockquotes and list items. A fenced block
    closes only at a fence of its own character at least as long as the one
    that opened it, or at the end of its blockquote or list item. A block left
    open runs to the end of the text. Code lines lose what CommonMark strips
    from them: the "> " of a blockquote, the indentation of an indented block
    or list item, and the fence lines.

    Returns ("prose", [line]) and ("code", lines) parts in order.
    """
    lines = _LINE_BREAK.split(text)
    code_by_line = {
        token.map[0]: token
        for token in _PARSER.parse(text)
        if token.type in _CODE_TOKENS and token.map
    }
    parts: list[tuple[str, list[str]]] = []
    index = 0
    while index < len(lines):
        token = code_by_line.get(index)
        if token is None or token.map is None:
            parts.append(("prose", [lines[index]]))
            index += 1
            continue
        parts.append(("code", token.content.removesuffix("\n").split("\n")))
        index = max(token.map[1], index + 1)
    return parts
