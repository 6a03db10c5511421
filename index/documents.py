"""Reads article files (.md/.txt with or without front matter, .html, .jsonl) into Documents.

A file that cannot be read as articles raises ArticleFileError with a reason fit for a warning;
the builder skips it and goes on with the rest. A .jsonl line that cannot be read is skipped
alone, as a LineProblem. Uploads are checked by the same `read_articles`.
"""

from __future__ import annotations

import enum
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from index.corpus import HTML_SUFFIXES, JSONL_SUFFIXES, SourceFile, printable
from index.front_matter import FrontMatterError, split_front_matter
from index.metadata import MetadataError, make_document
from index.models import Document

logger = logging.getLogger(__name__)

MAX_ID_CHARS = 200  # an "id" a .jsonl record gives its article

_LEADING_DATE = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\b[ \t]*")


class FileFault(enum.Enum):
    """Why a whole file was refused, for whoever words the reason in another language."""

    BINARY = "binary"
    NOT_UTF8 = "not UTF-8"
    EMPTY = "empty"
    NO_ARTICLES = "no articles"
    OTHER = "other"


class LineFault(enum.Enum):
    """Why one .jsonl line was skipped."""

    NOT_JSON = "not JSON"
    NO_TEXT = "no text"
    OTHER = "other"


class ArticleFileError(Exception):
    """The file cannot be read as articles; the message says why (`position`: a bad byte;
    `problems`: why each line of a .jsonl file without a single article was skipped)."""

    def __init__(
        self,
        reason: str,
        fault: FileFault = FileFault.OTHER,
        position: int | None = None,
        problems: list[LineProblem] | None = None,
    ) -> None:
        super().__init__(reason)
        self.fault = fault
        self.position = position
        self.problems = problems or []


class _LineError(ValueError):
    def __init__(self, reason: str, fault: LineFault = LineFault.OTHER) -> None:
        super().__init__(reason)
        self.fault = fault


@dataclass(frozen=True)
class LineProblem:
    """A .jsonl line that was skipped, and why."""

    line: int
    fault: LineFault
    reason: str

    def describe(self, relpath: str) -> str:
        return f"{printable(relpath)} line {self.line}: {self.reason}"


@dataclass
class ArticleFile:
    """What one file holds: its articles, and the .jsonl lines that had to be skipped."""

    documents: list[Document]
    problems: list[LineProblem] = field(default_factory=list)


def read_file(source: SourceFile) -> ArticleFile:
    """Read one article file the way a build does; skipped .jsonl lines are logged."""
    try:
        data = source.path.read_bytes()
    except OSError as error:
        raise ArticleFileError(f"cannot be read ({error.strerror or error})") from error
    parsed = read_articles(data, source.relpath)
    for problem in parsed.problems:
        logger.warning("skipped %s", problem.describe(source.relpath))
    return parsed


def load_file(source: SourceFile) -> list[Document]:
    """Read one article file into Documents (a .jsonl file can hold many)."""
    return read_file(source).documents


def read_articles(data: bytes, relpath: str) -> ArticleFile:
    """The articles in a file's bytes, or ArticleFileError saying why there are none.

    The one check of an article file: a build reads the corpus with it, and an admin's upload
    is refused by it, so a file the bot accepts is a file the next build indexes.
    """
    text = _decode(data)
    doc_id = _doc_id_from_path(relpath)
    suffix = PurePosixPath(relpath).suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return _load_jsonl(text, relpath, doc_id)
    if suffix in HTML_SUFFIXES:
        return ArticleFile([_load_html(text, relpath, doc_id)])
    return ArticleFile([_load_text(text, relpath, doc_id)])


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise ArticleFileError("binary file", FileFault.BINARY)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ArticleFileError(
            f"not valid UTF-8 text (byte {error.start})", FileFault.NOT_UTF8, error.start
        ) from error
    if not text.strip():
        raise ArticleFileError("empty file", FileFault.EMPTY)
    return text


def _doc_id_from_path(relpath: str) -> str:
    stem = relpath.rsplit(".", 1)[0]
    return re.sub(r"[^\w.\-/]+", "-", stem).strip("-") or "article"


def _load_text(text: str, relpath: str, doc_id: str) -> Document:
    meta: dict[str, Any] = {}
    body = text
    if text.lstrip("\ufeff").startswith("---"):
        try:
            meta, body = split_front_matter(text)
            return _text_document(meta, body, relpath, doc_id)
        except (FrontMatterError, MetadataError) as error:
            raise ArticleFileError(f"broken front matter: {error}") from error
    match = _LEADING_DATE.match(body)
    if match:
        meta["date"] = match.group(1)
        body = body[match.end() :]
    try:
        return _text_document(meta, body, relpath, doc_id)
    except MetadataError as error:
        raise ArticleFileError(str(error)) from error


def _text_document(meta: dict[str, Any], body: str, relpath: str, doc_id: str) -> Document:
    body = body.strip()
    if not body:
        raise ArticleFileError("no article text")
    return make_document(meta, body, relpath, doc_id)


def _load_html(text: str, relpath: str, doc_id: str) -> Document:
    try:
        # trafilatura: maintained, and far better than tag stripping at dropping menus and
        # footers. Imported here: only a corpus with HTML pages needs it.
        import trafilatura
    except ImportError as error:
        raise ArticleFileError(
            f"HTML pages need trafilatura, which cannot be imported ({error}); "
            "reinstall citebot to read them"
        ) from error

    extracted = trafilatura.bare_extraction(
        text,
        with_metadata=True,
        favor_recall=True,
        include_comments=False,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    body = (getattr(extracted, "text", None) or "").strip() if extracted else ""
    if not body:
        raise ArticleFileError("no article text found in the HTML")
    meta = {
        "title": getattr(extracted, "title", None),
        "date": getattr(extracted, "date", None),
        "source": getattr(extracted, "sitename", None),
        "url": getattr(extracted, "url", None),
    }
    try:
        return make_document(meta, body, relpath, doc_id)
    except MetadataError as error:
        raise ArticleFileError(str(error)) from error


def _load_jsonl(text: str, relpath: str, file_doc_id: str) -> ArticleFile:
    parsed = ArticleFile([])
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed.documents.append(_jsonl_record(line, relpath, f"{file_doc_id}-{number}"))
        except _LineError as error:
            parsed.problems.append(LineProblem(number, error.fault, str(error)))
    if not parsed.documents:
        if parsed.problems:
            first = parsed.problems[0]
            reason = f"no articles in the JSON lines file (line {first.line}: {first.reason})"
            raise ArticleFileError(reason, FileFault.NO_ARTICLES, problems=parsed.problems)
        raise ArticleFileError("no articles in the JSON lines file", FileFault.NO_ARTICLES)
    return parsed


def _jsonl_record(line: str, relpath: str, line_doc_id: str) -> Document:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise _LineError(f"not JSON ({error.msg})", LineFault.NOT_JSON) from error
    except RecursionError as error:
        raise _LineError("not JSON: nested too deeply", LineFault.NOT_JSON) from error
    body = record.get("text") if isinstance(record, dict) else None
    if not isinstance(body, str) or not body.strip():
        raise _LineError('no "text" string', LineFault.NO_TEXT)
    given_id = record.get("id")
    if given_id in (None, ""):
        doc_id = line_doc_id
    elif isinstance(given_id, str | int) and not isinstance(given_id, bool):
        doc_id = " ".join(str(given_id).split())
        if not doc_id or len(doc_id) > MAX_ID_CHARS or not doc_id.isprintable():
            raise _LineError(f'the "id" must be printable text of 1 to {MAX_ID_CHARS} characters')
    else:
        raise _LineError('the "id" must be text or a whole number')
    try:
        return make_document(record, body.strip(), relpath, doc_id)
    except MetadataError as error:
        raise _LineError(str(error)) from error
