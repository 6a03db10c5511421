"""Splits an article's YAML front matter from its body, parsing the YAML defensively.

`yaml.safe_load` is safe from code execution, not from size: about 350 bytes of anchors and
aliases expand into megabytes (a "billion laughs"), a few thousand brackets exhaust Python's
recursion, and an impossible date (2022-02-30) raises a bare ValueError. Front matter is a few
`key: value` lines, so the loader here refuses aliases and nesting beyond a few levels, and
leaves dates as text for the caller to check.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.nodes import Node

MAX_DEPTH = 16  # title, date, source, url need one level; tags a second


class FrontMatterError(ValueError):
    """The front matter cannot be read; the message says why."""


class _FrontMatterLoader(yaml.SafeLoader):
    """SafeLoader without aliases, without deep nesting, and without implicit timestamps."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise ComposerError(None, None, "aliases (*name) are not allowed", mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


# Dates stay strings ("2022-03-04"), so the caller can check them and say which one is wrong.
_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The front matter's keys and the body after it; FrontMatterError if it is broken."""
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        raise FrontMatterError("the first line must be just ---")
    for number, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            header = "".join(lines[1:number])
            body = "".join(lines[number + 1 :])
            break
    else:
        raise FrontMatterError("no closing ---")
    meta = parse_yaml(header)
    if meta is None:
        return {}, body
    if not isinstance(meta, dict):
        raise FrontMatterError("expected key: value lines")
    return meta, body


def parse_yaml(header: str) -> Any:
    """The YAML document in `header`, read with the defensive loader."""
    loader = _FrontMatterLoader(header)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise FrontMatterError(problem) from error
    except RecursionError as error:  # the depth check above should make this unreachable
        raise FrontMatterError("nested too deeply") from error
    finally:
        loader.dispose()
