"""Which admin's reindex is running, in a small file beside the index.

A reindex cut short (the bot stopped by SIGTERM, or killed outright) leaves the file behind, so
the bot can tell that admin when it starts again; a reindex that ends any other way removes it.
Writing it is a courtesy: if the disk cannot take it, the reindex goes on regardless.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from index.store import write_json_atomic

logger = logging.getLogger(__name__)

RECORD_NAME = "running-reindex.json"


@dataclass(frozen=True)
class RunningReindex:
    """Where a reindex reports: the admin's chat, its progress message, the admin's language."""

    chat_id: int
    message_id: int
    language: str


class ReindexRecord:
    """The record of the reindex running now, if any (one at a time: the bot holds a lock)."""

    def __init__(self, index_dir: Path) -> None:
        self._path = index_dir / RECORD_NAME

    def remember(self, running: RunningReindex) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self._path, asdict(running))
        except OSError as error:
            logger.warning("cannot note the running reindex in %s: %s", self._path, error)

    def forget(self) -> None:
        try:
            self._path.unlink(missing_ok=True)
        except OSError as error:
            logger.warning("cannot remove %s: %s", self._path, error)

    def take(self) -> RunningReindex | None:
        """The reindex a stop cut short, once: the record is removed as it is read."""
        if not self._path.exists():
            return None
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            running = RunningReindex(
                int(data["chat_id"]), int(data["message_id"]), str(data["language"])
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("ignoring an unreadable %s: %s", self._path, error)
            running = None
        self.forget()
        return running
