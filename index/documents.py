"""Reads article files (.md/.txt with or without front matter, .html, .jsonl) into Documents.

A file that cannot be read as articles raises ArticleFileError with a reason fit for a warning;
the builder skips it and goes on with the rest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from index.models import Document

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES
IGNORED_NAMES = {"readme.md", "readme.txt", "readme"}

_LEADING_DATE = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\b[ \t]*")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(?:\s|$)", re.DOTALL)
TITLE_MAX_CHARS = 120


class ArticleFileError(Exception):
    """The file cannot be read as articles; the message says why."""


@dataclass(frozen=True)
class SourceFile:
    """An article file found in the corpus, identified by its content hash."""

    relpath: str  # POSIX path relative to the corpus directory
    path: Path
    sha256: str
    size: int


def scan_corpus(root: Path, max_bytes: int) -> tuple[list[SourceFile], list[str]]:
    """List the corpus's article files with their hashes; return them and the skipped ones.

    Never follows a link out of the corpus directory, so nothing outside it is ever read.
    """
    if not root.is_dir():
        raise ArticleFileError(f"corpus directory {root} does not exist")
    real_root = root.resolve()
    found: list[SourceFile] = []
    skipped: list[str] = []
    for path in sorted(root.rglob("*")):
        relpath = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # hidden files and folders (editor swap files, .git)
        if path.name.lower() in IGNORED_NAMES or (path.is_dir() and not path.is_symlink()):
            continue
        reason = _unreadable_reason(path, real_root, max_bytes)
        if reason:
            skipped.append(f"{printable(relpath)}: {reason}")
            logger.warning("skipped %s: %s", printable(relpath), reason)
            continue
        data = path.read_bytes()
        found.append(SourceFile(relpath, path, hashlib.sha256(data).hexdigest(), len(data)))
    return found, skipped


def printable(relpath: str) -> str:
    """A file name as it can be shown: control and formatting characters (terminal escape
    sequences, a right-to-left override) written as escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in relpath)


def _unreadable_reason(path: Path, real_root: Path, max_bytes: int) -> str | None:
    if not path.resolve().is_relative_to(real_root):
        return "links outside the corpus directory"
    if path.is_dir():
        return "a linked folder (links to folders are not followed)"
    if not path.is_file():
        return "not a regular file"
    if any(ord(ch) < 32 for ch in path.name):
        return "file name has control characters"
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return f"unsupported file type {path.suffix or '(none)'} (use .md, .txt, .html or .jsonl)"
    size = path.stat().st_size
    if size > max_bytes:
        return f"too large ({size / 1e6:.1f} MB; the limit is corpus.max_file_mb)"
    return None


def load_file(source: SourceFile) -> list[Document]:
    """Read one article file into Documents (a .jsonl file can hold many)."""
    text = _decode(source.path.read_bytes())
    doc_id = _doc_id_from_path(source.relpath)
    suffix = source.path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return _load_jsonl(text, source.relpath, doc_id)
    if suffix in HTML_SUFFIXES:
        return [_load_html(text, source.relpath, doc_id)]
    return [_load_text(text, source.relpath, doc_id)]


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise ArticleFileError("binary file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ArticleFileError(f"not valid UTF-8 text (byte {error.start})") from error
    if not text.strip():
        raise ArticleFileError("empty file")
    return text


def _doc_id_from_path(relpath: str) -> str:
    stem = relpath.rsplit(".", 1)[0]
    return re.sub(r"[^\w.\-/]+", "-", stem).strip("-") or "article"


def _load_text(text: str, relpath: str, doc_id: str) -> Document:
    meta: dict[str, Any] = {}
    body = text
    if text.lstrip("\ufeff").startswith("---"):
        meta, body = _split_front_matter(text)
    else:
        match = _LEADING_DATE.match(body)
        if match:
            meta["date"] = match.group(1)
            body = body[match.end() :]
    body = body.strip()
    if not body:
        raise ArticleFileError("no article text")
    return _make_document(meta, body, relpath, doc_id)


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        raise ArticleFileError("broken front matter: the first line must be just ---")
    for number, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            header = "".join(lines[1:number])
            body = "".join(lines[number + 1 :])
            break
    else:
        raise ArticleFileError("broken front matter: no closing ---")
    try:
        meta = yaml.safe_load(header) or {}
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ArticleFileError(f"broken front matter: {problem}") from error
    if not isinstance(meta, dict):
        raise ArticleFileError("broken front matter: expected key: value lines")
    return meta, body


def _load_html(text: str, relpath: str, doc_id: str) -> Document:
    # trafilatura: maintained, and far better than tag stripping at dropping menus and footers.
    import trafilatura

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
    return _make_document(meta, body, relpath, doc_id)


def _load_jsonl(text: str, relpath: str, file_doc_id: str) -> list[Document]:
    documents: list[Document] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            logger.warning("skipped %s line %d: not JSON (%s)", relpath, number, error.msg)
            continue
        body = record.get("text") if isinstance(record, dict) else None
        if not isinstance(body, str) or not body.strip():
            logger.warning('skipped %s line %d: no "text" field', relpath, number)
            continue
        given_id = record.get("id")
        doc_id = str(given_id) if given_id not in (None, "") else f"{file_doc_id}-{number}"
        if doc_id in seen:
            logger.warning("skipped %s line %d: duplicate id %s", relpath, number, doc_id)
            continue
        seen.add(doc_id)
        documents.append(_make_document(record, body.strip(), relpath, doc_id))
    if not documents:
        raise ArticleFileError("no articles in the JSON lines file")
    return documents


def _make_document(meta: dict[str, Any], body: str, relpath: str, doc_id: str) -> Document:
    return Document(
        doc_id=doc_id,
        title=_clean(meta.get("title")) or title_from_text(body),
        text=body,
        source_path=relpath,
        date=_normalise_date(meta.get("date")),
        source=_clean(meta.get("source")),
        url=_clean(meta.get("url")),
    )


def title_from_text(body: str) -> str:
    """A title for an article that has none: its first sentence, shortened at a word."""
    first_line = body.strip().split("\n", 1)[0].strip()
    match = _FIRST_SENTENCE.match(first_line)
    title = (match.group(1) if match else first_line).strip()
    if len(title) > TITLE_MAX_CHARS:
        title = title[:TITLE_MAX_CHARS].rsplit(" ", 1)[0] + "…"
    return title


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _normalise_date(value: Any) -> str | None:
    text = _clean(value)
    if text and _ISO_DATE.match(text):
        return text[:10]
    return text
