"""Checks an article file an admin sent, and saves it into the corpus directory atomically."""

from __future__ import annotations

import json
import os
import tempfile
import unicodedata
from collections.abc import Callable
from pathlib import Path

from bot.i18n import ENGLISH, Translator

ALLOWED_EXTENSIONS = (".txt", ".md", ".html", ".jsonl")
MAX_NAME_LENGTH = 120
_FORBIDDEN_CHARACTERS = set('<>:"|?*')


class UploadRejectedError(ValueError):
    """The file failed a check; `explain` says which, fit to show the admin in their language.

    It is made from a function of the Translator, so the reason is worded (with its plural
    forms) in whichever language the admin reads; str() of it is the English, for the log.
    """

    def __init__(self, explain: Callable[[Translator], str]) -> None:
        super().__init__(explain(ENGLISH))
        self.explain = explain


def safe_file_name(name: str | None) -> str:
    """The name to save the file under, or UploadRejectedError.

    Directories are stripped; `..`, hidden names, control or formatting characters (such as a
    right-to-left override), reserved characters and other extensions are refused.
    """
    if not name or not name.strip():
        raise UploadRejectedError(lambda t: t.gettext("the file has no name"))
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise UploadRejectedError(lambda t: t.gettext("the file name must not contain '..'"))
    base = unicodedata.normalize("NFC", parts[-1].strip())
    if not base:
        raise UploadRejectedError(lambda t: t.gettext("the file has no name"))
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in base):
        raise UploadRejectedError(lambda t: t.gettext("the file name contains control characters"))
    if base.startswith("."):
        raise UploadRejectedError(
            lambda t: t.gettext("hidden files (names starting with '.') are not accepted")
        )
    if _FORBIDDEN_CHARACTERS & set(base):
        raise UploadRejectedError(
            lambda t: t.gettext('the file name must not contain any of < > : " | ? *')
        )
    if len(base) > MAX_NAME_LENGTH:
        raise UploadRejectedError(
            lambda t: t.ngettext(
                "the file name is longer than {limit} character",
                "the file name is longer than {limit} characters",
                MAX_NAME_LENGTH,
            ).format(limit=MAX_NAME_LENGTH)
        )
    if not base.lower().endswith(ALLOWED_EXTENSIONS):
        raise UploadRejectedError(
            lambda t: t.gettext("only .txt, .md, .html and .jsonl files can be added")
        )
    if base.lower().startswith("readme."):
        raise UploadRejectedError(
            lambda t: t.gettext("README files are not indexed; please rename it")
        )
    return base


def check_size(size: int | None, max_bytes: int) -> None:
    """Refuse a file over the size limit (Telegram reports the size before the download)."""
    if size is not None and size > max_bytes:
        raise UploadRejectedError(
            lambda t: t.gettext("the file is {size} MB; the limit is {limit} MB").format(
                size=t.decimal(size / 1_000_000), limit=t.decimal(max_bytes / 1_000_000)
            )
        )


def check_content(data: bytes, file_name: str) -> str:
    """The decoded text, after checking it is UTF-8, not empty and (for .jsonl) JSON lines."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        position = error.start
        raise UploadRejectedError(
            lambda t: t.gettext(
                "the file is not UTF-8 text (bad byte at position {position})"
            ).format(position=position)
        ) from error
    if not text.strip():
        raise UploadRejectedError(lambda t: t.gettext("the file is empty"))
    if file_name.lower().endswith(".jsonl"):
        _check_json_lines(text)
    return text


def _check_json_lines(text: str) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            _check_json_line(number, line)


def _check_json_line(number: int, line: str) -> None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise UploadRejectedError(
            lambda t: t.gettext("line {number} is not valid JSON").format(number=number)
        ) from error
    if not isinstance(record, dict) or not str(record.get("text", "")).strip():
        raise UploadRejectedError(
            lambda t: t.gettext('line {number} has no "text" field').format(number=number)
        )


def save_atomically(directory: Path, file_name: str, data: bytes) -> Path:
    """Write the file into the directory under a hidden temporary name, then rename it in place.

    A reader (a build scanning the corpus) sees either the old file or the whole new one.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / file_name
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
