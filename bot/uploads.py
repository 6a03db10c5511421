"""Checks an article file an admin sent, holds one that would replace an article until the
admin confirms, and saves it into the corpus directory atomically."""

from __future__ import annotations

import itertools
import os
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.i18n import ENGLISH, Translator
from index.documents import ArticleFileError, FileFault, LineFault, LineProblem, read_articles
from index.models import Document

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


def check_content(data: bytes, file_name: str) -> list[Document]:
    """The file's articles, read exactly as the next build will read it; UploadRejectedError
    names the first thing that build would skip (the whole file, or one .jsonl line)."""
    try:
        parsed = read_articles(data, file_name)
    except ArticleFileError as error:
        if error.problems:
            raise _line_rejected(error.problems[0]) from error
        raise UploadRejectedError(_explain_file_error(error)) from error
    if parsed.problems:
        raise _line_rejected(parsed.problems[0])
    return parsed.documents


def _explain_file_error(error: ArticleFileError) -> Callable[[Translator], str]:
    if error.fault is FileFault.NOT_UTF8:
        position = error.position
        return lambda t: t.gettext(
            "the file is not UTF-8 text (bad byte at position {position})"
        ).format(position=position)
    if error.fault is FileFault.EMPTY:
        return lambda t: t.gettext("the file is empty")
    reason = str(error)  # the reader's own words, as a failed reindex shows them
    return lambda _t: reason


def _line_rejected(problem: LineProblem) -> UploadRejectedError:
    number, reason = problem.line, problem.reason
    if problem.fault is LineFault.NOT_JSON:
        return UploadRejectedError(
            lambda t: t.gettext("line {number} is not valid JSON").format(number=number)
        )
    if problem.fault is LineFault.NO_TEXT:
        return UploadRejectedError(
            lambda t: t.gettext('line {number} has no "text" with the article text').format(
                number=number
            )
        )
    return UploadRejectedError(
        lambda t: t.gettext("line {number}: {reason}").format(number=number, reason=reason)
    )


@dataclass(frozen=True)
class PendingUpload:
    """A checked file that would replace an article, waiting for the admin to confirm."""

    token: int
    chat_id: int
    file_name: str
    data: bytes


class PendingUploads:
    """Uploads waiting for "Replace it" in this process: one per chat, the last few chats only.

    Kept in memory: after a restart the buttons answer as expired and the admin sends the file
    again, which is simpler than a store for files that are, by then, on the admin's phone.
    (Replicas keep them in their database instead: bot/shared_pg.py.)
    """

    MAX_CHATS = 8

    def __init__(self) -> None:
        self._by_chat: dict[int, PendingUpload] = {}
        self._tokens = itertools.count(1)

    async def hold(self, chat_id: int, file_name: str, data: bytes) -> PendingUpload:
        """Keep the file (replacing the chat's earlier one); returns it with its token."""
        self._by_chat.pop(chat_id, None)
        while len(self._by_chat) >= self.MAX_CHATS:
            self._by_chat.pop(next(iter(self._by_chat)))
        pending = PendingUpload(next(self._tokens), chat_id, file_name, data)
        self._by_chat[chat_id] = pending
        return pending

    async def take(self, chat_id: int, token: int) -> PendingUpload | None:
        """The chat's waiting file if `token` is still its own; it is no longer held."""
        pending = self._by_chat.get(chat_id)
        if pending is None or pending.token != token:
            return None
        return self._by_chat.pop(chat_id)


def would_replace(directory: Path, file_name: str) -> bool:
    """Whether saving the file would replace one already in the corpus."""
    return os.path.lexists(directory / file_name)


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
