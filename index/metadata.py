"""An article's citation details (title, date, source, url) from whatever its file gave:
front matter, a JSON record or what trafilatura found, checked and held to sane lengths.

A title is shown in every citation and repeated in every passage's embedded text, so a file
must not make it a megabyte long; the other details are capped for the same reason.
"""

from __future__ import annotations

import datetime
import logging
import re
from typing import Any

from index.models import Document

logger = logging.getLogger(__name__)

TITLE_MAX_CHARS = 120  # a title made from the article's first sentence
GIVEN_TITLE_MAX_CHARS = 300  # a title the file states
SOURCE_MAX_CHARS = 200
DATE_MAX_CHARS = 100  # a date written out ("4 March 2022, evening edition")
URL_MAX_CHARS = 2048  # longer links are left out: a shortened one would lead nowhere

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(?:\s|$)", re.DOTALL)


class MetadataError(ValueError):
    """A detail is wrong in a way that would mislead a reader (a date that is no day)."""


def make_document(meta: dict[str, Any], body: str, relpath: str, doc_id: str) -> Document:
    """The article, its details taken from `meta`; MetadataError if one of them is wrong."""
    url = clean(meta.get("url"))
    if url is not None and len(url) > URL_MAX_CHARS:
        logger.warning("%s: its url is longer than %d characters; left out", relpath, URL_MAX_CHARS)
        url = None
    return Document(
        doc_id=doc_id,
        title=shorten(clean(meta.get("title")), GIVEN_TITLE_MAX_CHARS) or title_from_text(body),
        text=body,
        source_path=relpath,
        date=normalise_date(meta.get("date")),
        source=shorten(clean(meta.get("source")), SOURCE_MAX_CHARS),
        url=url,
    )


def title_from_text(body: str) -> str:
    """A title for an article that has none: its first sentence, shortened at a word."""
    first_line = body.strip().split("\n", 1)[0].strip()
    match = _FIRST_SENTENCE.match(first_line)
    title = (match.group(1) if match else first_line).strip()
    return shorten(title, TITLE_MAX_CHARS) or title


def shorten(text: str | None, limit: int) -> str | None:
    """`text` cut at the last word that fits in `limit` characters, with an ellipsis."""
    if text is None or len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[: limit - 1]
    return cut + "…"


def clean(value: Any) -> str | None:
    """A detail as one line of text, or None when there is none."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def normalise_date(value: Any) -> str | None:
    """An ISO date becomes its day (YYYY-MM-DD), checked against the calendar; other text is
    kept as written (shortened)."""
    text = clean(value)
    if text is None or not _ISO_DATE.match(text):
        return shorten(text, DATE_MAX_CHARS)
    day = text[:10]
    try:
        datetime.date.fromisoformat(day)
    except ValueError as error:
        raise MetadataError(f"date {day} is not a calendar date ({error})") from error
    return day
