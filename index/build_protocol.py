"""What a serving process and its build worker say to each other: one JSON object per line.

The job goes to the worker's standard input as one line (the settings of the build, exactly
those of the process that asked, so the worker builds what it serves); the worker answers on
its standard output with progress lines, then one last line: the report or the error.

    {"progress": {"stage": "embedding", "passages_embedded": 256, ...}}
    {"report": {"build_id": "...", "articles": 7, ...}}
    {"error": {"kind": "BuildCancelledError", "message": "the build was stopped; ..."}}

Errors travel as the name of their class in index.errors and their message, which is written
to be shown as it is; the serving process raises the same class again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from typing import Any

from index import errors
from index.config import CorpusConfig, DatabaseConfig, IndexConfig, PassageConfig
from index.models import BuildProgress, BuildReport


@dataclass(frozen=True)
class BuildJob:
    """One build for a worker: the serving process's settings, `full` as `citebot index
    --full`, and the log level the worker's messages go out at (on the shared standard error)."""

    corpus: CorpusConfig
    passages: PassageConfig
    index: IndexConfig
    full: bool = False
    log_level: int = logging.WARNING  # as `citebot` logs by default
    database: DatabaseConfig | None = None  # where the index lives when database.url is set

    def to_line(self) -> bytes:
        data = {
            "corpus": self.corpus.model_dump(mode="json"),
            "passages": self.passages.model_dump(mode="json"),
            "index": self.index.model_dump(mode="json"),
            "full": self.full,
            "log_level": self.log_level,
            # The URL goes to the worker on its stdin (never its arguments or environment,
            # which other users can read in /proc) as itself, not as pydantic's "**********".
            "database_url": (
                self.database.url.get_secret_value()
                if self.database is not None and self.database.url is not None
                else None
            ),
            "database": self.database.model_dump(mode="json", exclude={"url"})
            if self.database is not None
            else None,
        }
        return json.dumps(data).encode("utf-8") + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> BuildJob:
        data = json.loads(line)
        return cls(
            CorpusConfig.model_validate(data["corpus"]),
            PassageConfig.model_validate(data["passages"]),
            IndexConfig.model_validate(data["index"]),
            bool(data["full"]),
            int(data["log_level"]),
            (
                DatabaseConfig.model_validate({**data["database"], "url": data["database_url"]})
                if data.get("database") is not None
                else None
            ),
        )


def progress_line(progress: BuildProgress) -> bytes:
    return _line({"progress": asdict(progress)})


def report_line(report: BuildReport) -> bytes:
    return _line({"report": report.to_json()})


def error_line(error: errors.CitebotError) -> bytes:
    return _line({"error": {"kind": type(error).__name__, "message": str(error)}})


def _line(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8") + b"\n"


@dataclass(frozen=True)
class WorkerMessage:
    """One line from a worker, read: exactly one of the three is set."""

    progress: BuildProgress | None = None
    report: BuildReport | None = None
    error: errors.CitebotError | None = None


def read_message(line: bytes) -> WorkerMessage:
    """Parse a worker's line; raises ValueError for anything else (a worker gone wrong)."""
    try:
        data = json.loads(line)
        if isinstance(data, dict) and len(data) == 1:
            if "progress" in data:
                return WorkerMessage(progress=BuildProgress(**data["progress"]))
            if "report" in data:
                return WorkerMessage(report=_report(data["report"]))
            if "error" in data:
                error = data["error"]
                return WorkerMessage(error=_error(str(error["kind"]), str(error["message"])))
    except (ValueError, KeyError, TypeError) as problem:
        raise ValueError(f"not a worker message: {line[:200]!r}") from problem
    raise ValueError(f"not a worker message: {line[:200]!r}")


def _report(data: dict[str, Any]) -> BuildReport:
    tuples = {f.name for f in fields(BuildReport) if str(f.type).startswith("tuple")}
    values: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in data.items()}
    return BuildReport(**values)


def _error(kind: str, message: str) -> errors.CitebotError:
    """The same error class again; one this version does not know is a BuildError."""
    known = getattr(errors, kind, None)
    if isinstance(known, type) and issubclass(known, errors.CitebotError):
        return known(message)
    return errors.BuildError(message)
