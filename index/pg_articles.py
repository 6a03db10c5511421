"""The articles of a database-store index, as the `articles` mapping answering reads: one looked
up when a citation needs it, all of them at once when they are listed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import PurePosixPath

import psycopg

from index.models import SourceInfo


class PgArticles(Mapping[str, SourceInfo]):
    """The articles of a PgIndex: one looked up when a citation needs it, all when listed."""

    _COLUMNS = "doc_id, title, date, source, url, source_path, passages, relpath, position"

    def __init__(self, use: Callable[[], AbstractContextManager[psycopg.Connection]]) -> None:
        self._use = use  # the index's connection: its snapshot's, or a pooled one
        self._all: dict[str, SourceInfo] | None = None

    def __getitem__(self, doc_id: str) -> SourceInfo:
        if self._all is not None:
            return self._all[doc_id]
        with self._use() as connection:
            row = connection.execute(
                f"SELECT {self._COLUMNS} FROM index_articles WHERE doc_id = %s", (doc_id,)
            ).fetchone()
        if row is None:
            raise KeyError(doc_id)
        return SourceInfo(*row[:7])

    def _load(self) -> dict[str, SourceInfo]:
        if self._all is None:
            with self._use() as connection:
                rows = connection.execute(f"SELECT {self._COLUMNS} FROM index_articles").fetchall()
            # The local store lists articles in corpus order: files as pathlib sorts them.
            rows.sort(key=lambda row: (PurePosixPath(row[7]).parts, row[8]))
            self._all = {row[0]: SourceInfo(*row[:7]) for row in rows}
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())
