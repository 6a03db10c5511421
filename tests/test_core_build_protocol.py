"""The lines a build worker and the bot exchange: each side reads exactly what the other wrote."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from index import errors
from index.build_protocol import (
    BuildJob,
    error_line,
    progress_line,
    read_message,
    report_line,
)
from index.config import CorpusConfig, DatabaseConfig, IndexConfig, PassageConfig
from index.models import BuildProgress, BuildReport


def test_a_job_arrives_with_exactly_the_settings_of_the_process_that_sent_it() -> None:
    job = BuildJob(
        CorpusConfig(path=Path("/srv/articles"), max_file_mb=3.5),
        PassageConfig(min_words=10, max_words=20),
        IndexConfig(path=Path("/srv/index"), chunk_size=16, multilingual_model="none"),
        full=True,
        log_level=20,
    )
    assert BuildJob.from_line(job.to_line()) == job


def test_a_job_carries_the_database_url_itself_to_the_worker() -> None:
    """A SecretStr dumps as "**********": the worker would build into no database at all."""
    url = "postgresql://citebot:pw-123@db.example:5432/citebot"
    job = BuildJob(
        CorpusConfig(path=Path("/srv/corpus")), PassageConfig(), IndexConfig(), True,
        logging.INFO, DatabaseConfig(url=url, pool_size=3),
    )  # fmt: skip
    arrived = BuildJob.from_line(job.to_line())
    assert arrived.database is not None and arrived.database.url is not None
    assert arrived.database.url.get_secret_value() == url
    assert arrived.database.pool_size == 3
    without = BuildJob(CorpusConfig(), PassageConfig(), IndexConfig())
    assert BuildJob.from_line(without.to_line()).database is None


def test_progress_and_a_report_arrive_as_they_were_sent() -> None:
    progress = BuildProgress("embedding", passages_embedded=256, passages_to_embed=1000)
    assert read_message(progress_line(progress)).progress == progress
    report = BuildReport(
        "20261203T120000Z-abcdef", 7, 120, 30,
        files_added=("octopus.md",), skipped=("bad.md: empty",), seconds=4.5,
        extra={"note": "ok"},
    )  # fmt: skip
    message = read_message(report_line(report))
    assert message.report == report and message.progress is None and message.error is None


@pytest.mark.parametrize(
    ("error", "arrives_as"),
    [
        (errors.BuildCancelledError("the build was stopped"), errors.BuildCancelledError),
        (errors.BuildInProgressError("another build"), errors.BuildInProgressError),
        (errors.BuildError("No space left on device"), errors.BuildError),
        (errors.IndexMismatchError("other model"), errors.IndexMismatchError),
        (errors.ConfigError("bad setting"), errors.ConfigError),
    ],
)
def test_an_error_arrives_as_its_own_class_with_its_message(
    error: errors.CitebotError, arrives_as: type[errors.CitebotError]
) -> None:
    received = read_message(error_line(error)).error
    assert type(received) is arrives_as
    assert str(received) == str(error)


@pytest.mark.parametrize(
    "line",
    [
        b'{"error": {"kind": "ValueError", "message": "not ours"}}\n',
        b'{"error": {"kind": "NoSuchError", "message": "from a newer worker"}}\n',
    ],
)
def test_an_error_of_an_unknown_kind_is_a_build_error(line: bytes) -> None:
    assert type(read_message(line).error) is errors.BuildError


@pytest.mark.parametrize(
    "line", [b"Loading model...\n", b'{"progress": {}, "report": {}}\n', b'{"other": 1}\n', b"[]\n"]
)
def test_anything_else_is_refused(line: bytes) -> None:
    with pytest.raises(ValueError):
        read_message(line)
