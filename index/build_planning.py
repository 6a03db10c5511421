"""Plans each corpus file of a build: reused from the serving build (passages, vectors and all)
when its content hash is unchanged, or read afresh; a file that cannot be read is skipped with
its reason."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from index.build_writer import SKIPPED_LINES, SourcePlan, file_error_reason, read_source
from index.config import PassageConfig
from index.corpus import SourceFile, printable
from index.documents import ArticleFileError
from index.models import BuildProgress
from index.segments import open_tables
from index.store import Manifest

logger = logging.getLogger(__name__)


class SourcePlanner:
    """Plans a build's files; remembers the ones that could not be read, by hash."""

    def __init__(
        self,
        passages: PassageConfig,
        progress: Callable[[BuildProgress], None],
        check_cancelled: Callable[[], None],
    ) -> None:
        self.passages = passages
        self.progress = progress
        self.check_cancelled = check_cancelled
        self.unreadable: dict[str, tuple[str, str]] = {}  # relpath -> (sha256, reason)

    def plan(
        self,
        sources: list[SourceFile],
        skipped: list[str],
        previous: Manifest | None,
        previous_dir: Path | None,
    ) -> tuple[list[SourcePlan], list[str]]:
        """Every file's plan, in corpus order, and the skipped list grown by what was skipped."""
        old = previous.sources if previous else {}
        old_docs, old_passages = (
            open_tables(previous_dir, previous) if previous and previous_dir else (None, None)
        )
        plans: list[SourcePlan] = []
        skipped = list(skipped)
        for number, source in enumerate(sources, start=1):
            self.check_cancelled()
            self.progress(BuildProgress("scanning", files_scanned=number, files_total=len(sources)))
            info = old.get(source.relpath)
            if info and info["sha256"] == source.sha256 and old_docs and old_passages:
                rows = range(info["first_row"], info["first_row"] + info["passages"])
                docs = [old_docs[i] for i in range(*info["document_rows"])]
                plan = SourcePlan(source, docs, [old_passages[r] for r in rows], rows)
                plan.skipped_lines.extend(info.get(SKIPPED_LINES, []))
            elif (fresh := self.read(source, skipped)) is not None:
                plan = fresh
            else:
                continue
            skipped.extend(plan.skipped_lines)
            plans.append(plan)
        return plans, skipped

    def read(self, source: SourceFile, skipped: list[str]) -> SourcePlan | None:
        """A new or changed file read afresh; None (and a line in `skipped`) if it cannot be."""
        try:
            return read_source(source, self.passages)
        except (ArticleFileError, ValueError, RecursionError) as error:
            # Any one file that cannot be read is skipped, whatever the reason: one
            # bad file must not keep the rest of the corpus from being indexed.
            line = f"{printable(source.relpath)}: {file_error_reason(error)}"
            self.unreadable[source.relpath] = (source.sha256, line)
            skipped.append(line)
            logger.warning("skipped %s", line)
            return None
