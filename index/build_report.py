"""What a build did, for its report, and the fingerprint that tells whether the corpus changed
at all since a build."""

from __future__ import annotations

import time
from typing import Any

from index.corpus import SourceFile
from index.models import BuildReport
from index.store import Manifest


def build_report(
    build_id: str,
    manifest: Manifest,
    skipped: list[str],
    sources: list[SourceFile],
    old_sources: dict[str, Any],
    embedded: int,
    started: float,
    unchanged: bool = False,
) -> BuildReport:
    """The files a build added, changed and removed against the serving build's `old_sources`;
    `started` is the build's time.perf_counter() at its start."""
    current = {s.relpath: s.sha256 for s in sources}
    built = set(manifest.sources)
    return BuildReport(
        build_id=build_id,
        articles=int(manifest.data["article_count"]),
        passages=manifest.passage_count,
        passages_embedded=embedded,
        files_added=tuple(sorted(n for n in built if n not in old_sources)),
        files_changed=tuple(
            sorted(
                n for n in built if n in old_sources and old_sources[n]["sha256"] != current.get(n)
            )
        ),
        files_removed=tuple(sorted(n for n in old_sources if n not in built)),
        skipped=tuple(skipped),
        renamed=tuple(manifest.data.get("renamed", [])),
        seconds=round(time.perf_counter() - started, 3),
        unchanged=unchanged,
    )


def corpus_fingerprint(sources: list[SourceFile]) -> dict[str, str]:
    """The corpus as it is now: each file's content hash."""
    return {source.relpath: source.sha256 for source in sources}


def fingerprint_of(manifest: Manifest) -> dict[str, str]:
    """The corpus a build was made from: the files it indexed and the ones it could not read."""
    files = {name: info["sha256"] for name, info in manifest.sources.items()}
    files.update(
        {name: info["sha256"] for name, info in manifest.data.get("unreadable", {}).items()}
    )
    return files
