"""`citebot migrate`: bring the database's index tables to this version, or copy a published
local index into the database without embedding anything again (`--to-database`).

The copy keeps the build's id, its vectors as they are and its record of the corpus files, so a
`citebot index` with database.url set afterwards finds nothing to embed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from operator import itemgetter

import numpy as np
import psycopg

from index.build_writer import embedding_text
from index.config import DatabaseConfig, IndexConfig
from index.database import migrate_component, pool
from index.errors import IndexMismatchError
from index.lexical import tokenize
from index.pg_build import build_lock
from index.pg_postings import Postings, SegmentWriter, postings_ddl
from index.pg_schema import COMPONENT, SCHEMA_VERSION, Connections, create_tables
from index.pg_write import PassageRows, Publication, SourceRows, write_publication
from index.retriever import LoadedIndex
from index.segments import DELTA_DIR
from index.store import JsonlTable

logger = logging.getLogger(__name__)


def _pack_postings(connection: psycopg.Connection) -> None:
    """Version 1 -> 2: the row-per-posting table index_terms becomes packed postings, one
    segment; nothing is embedded or tokenized again."""
    for statement in postings_ddl():
        connection.execute(statement)  # type: ignore[arg-type]
    writer = SegmentWriter(connection)
    with connection.cursor(name="citebot_v1_terms") as cursor:
        cursor.itersize = 100_000
        cursor.execute(
            "SELECT term, passage_id, tf, length FROM index_terms ORDER BY term, passage_id"
        )
        for term, group in groupby(cursor, key=itemgetter(0)):
            columns = np.asarray([row[1:] for row in group], dtype=np.int64).T
            writer.add_postings(term, Postings(*columns))
    writer.flush()
    connection.execute("DROP TABLE index_terms")


# Schema version n -> the step that makes it n + 1.
MIGRATIONS: dict[int, Callable[[psycopg.Connection], None]] = {1: _pack_postings}


@dataclass(frozen=True)
class CopyReport:
    build_id: str
    articles: int
    passages: int
    seconds: float


def migrate_schema(database: DatabaseConfig, index: IndexConfig) -> str:
    """Create the index tables, or step them up to SCHEMA_VERSION; says what it did."""
    with pool(database).connection() as connection:
        return migrate_component(
            connection, COMPONENT, SCHEMA_VERSION, create_tables(index), MIGRATIONS
        )


def copy_local_index(
    local: LoadedIndex, index: IndexConfig, database: DatabaseConfig
) -> CopyReport:
    """Replace the database's index with this published local build, vectors as they are."""
    if (local.build_dir / DELTA_DIR).is_dir():
        # Its rows span two segments with tombstones; the copy reads one build's own files.
        raise IndexMismatchError(
            "the local index is a base build with a delta segment: run `citebot index --full` "
            "(without database.url) to merge it, then `citebot migrate --to-database`"
        )
    started = time.perf_counter()
    connections = Connections(database, index)
    manifest = local.manifest
    data = manifest.data
    publication = Publication(
        build_id=manifest.build_id,
        built_at=datetime.fromisoformat(data["built_at"]),
        identity=manifest.identity(),
        with_sentences=bool(data.get("sentence_vectors")) and local.primary.sentences is not None,
        index_type=str(data["index_type"]),
        skipped=list(data.get("skipped", [])),
        renamed=list(data.get("renamed", [])),
        unreadable=dict(data.get("unreadable", {})),
        replace_all=True,
    )
    with build_lock(connections, wait=False), connections.connection() as connection:
        passages, articles = write_publication(
            connection, publication, _sources(local, publication.with_sentences),
            lambda: float(data["build_seconds"]),
        )  # fmt: skip
    seconds = time.perf_counter() - started
    logger.info("copied build %s (%d passages) in %.1fs", manifest.build_id, passages, seconds)
    return CopyReport(manifest.build_id, articles, passages, round(seconds, 2))


def _sources(local: LoadedIndex, with_sentences: bool) -> Iterator[SourceRows]:
    """Each corpus file of the build with its rows, read from the build's own files."""
    documents = JsonlTable(local.build_dir / "documents.jsonl")
    multilingual = local.multilingual
    for relpath, info in local.manifest.sources.items():
        records = [documents[row] for row in range(*info["document_rows"])]
        titles = {record["doc_id"]: record["title"] for record in records}
        rows = range(info["first_row"], info["first_row"] + info["passages"])
        passages = [local.passage(row) for row in rows]
        terms = tokenize([embedding_text(titles[p["doc_id"]], p["text"]) for p in passages])
        out = []
        for number, row in enumerate(rows):
            sentences = others = None
            if with_sentences and local.primary.sentences is not None:
                sentences = local.primary.sentences.of_passage(row)
                if multilingual is not None and multilingual.sentences is not None:
                    others = multilingual.sentences.of_passage(row)
            out.append(PassageRows(
                passages[number], int(local.scripts[row]), terms[number],
                np.asarray(local.primary.vectors[row]),
                np.asarray(multilingual.vectors[row]) if multilingual is not None else None,
                sentences, others,
            ))  # fmt: skip
        yield SourceRows(relpath, info["sha256"], list(info.get("skipped_lines", [])), records, out)
