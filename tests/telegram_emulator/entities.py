"""Entity ordering and link normalisation, shared by the HTML parser, text clean-up and keyboards.

Both follow TDLib so that entities come back in the order Telegram returns them and a link is
accepted (or silently dropped) exactly when Telegram would.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

# TDLib orders entities by offset, then longer first, then by this priority.
_PRIORITY = {
    "blockquote": 0, "expandable_blockquote": 0, "pre": 11, "code": 20, "text_link": 49,
    "text_mention": 49, "bold": 90, "italic": 91, "underline": 92, "strikethrough": 93,
    "spoiler": 94, "custom_emoji": 99,
}  # fmt: skip


def entity_sort_key(entity: dict[str, Any]) -> tuple[int, int, int]:
    """Sort key giving TDLib's entity order."""
    return entity["offset"], -entity["length"], _PRIORITY.get(entity["type"], 50)


def checked_link(url: str) -> str | None:
    """Normalise a link like Telegram (`telegram.org` -> `http://telegram.org/`), None if bad."""
    if not url or any(ch.isspace() for ch in url):
        return None
    if "://" not in url and not url.lower().startswith(("tg:", "ton:")):
        url = "http://" + url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"tg", "ton"}:
        return url
    if scheme not in {"http", "https"} or not parts.hostname or "." not in parts.hostname:
        return None
    return url if parts.path else url.replace(parts.netloc, parts.netloc + "/", 1)
