"""Finds the article files in the corpus folder, with their content hashes.

Never follows a link out of the folder, so nothing outside it is ever read; a file that cannot
be an article (a link loop, a pipe, an unsupported type, too large) is skipped with its reason.
"""

from __future__ import annotations

import errno
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from index.errors import ConfigError

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES
IGNORED_NAMES = {"readme.md", "readme.txt", "readme"}
_LINK_LOOP = "a link that loops (it leads back to itself)"


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
        raise ConfigError(f"corpus.path: the folder {root} does not exist")
    real_root = root.resolve()
    found: list[SourceFile] = []
    skipped: list[str] = []
    for path in sorted(root.rglob("*")):
        relpath = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # hidden files and folders (editor swap files, .git)
        if path.name.lower() in IGNORED_NAMES or (path.is_dir() and not path.is_symlink()):
            continue
        try:
            reason = _unreadable_reason(path, real_root, max_bytes)
            data = b"" if reason else path.read_bytes()
        except OSError as error:  # removed meanwhile, no permission, a disk error
            reason = f"cannot be read ({error.strerror or error})"
        if reason:
            skipped.append(f"{printable(relpath)}: {reason}")
            logger.warning("skipped %s: %s", printable(relpath), reason)
            continue
        found.append(SourceFile(relpath, path, hashlib.sha256(data).hexdigest(), len(data)))
    return found, skipped


def printable(relpath: str) -> str:
    """A file name as it can be shown: control and formatting characters (terminal escape
    sequences, a right-to-left override) written as escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in relpath)


def _unreadable_reason(path: Path, real_root: Path, max_bytes: int) -> str | None:
    try:
        resolved = path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 and 3.12 say so for a link loop; later ones ELOOP
        return _LINK_LOOP
    except OSError as error:
        if error.errno == errno.ELOOP:
            return _LINK_LOOP
        if path.is_symlink():
            return "a link to a file that does not exist"
        raise
    if not resolved.is_relative_to(real_root):
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
