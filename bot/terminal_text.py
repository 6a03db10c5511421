"""Plain-text renderings for the terminal: answers, sources and build summaries."""

from __future__ import annotations

from collections.abc import Sequence

from index.corpus import printable
from index.models import Answer, BuildReport, Citation
from index.service import SourceInfo

BOLD, RESET = "\033[1m", "\033[0m"
# A build of 10,000 new files is reported in a few lines: the first names, then a count (each
# skipped file also has its own warning on standard error).
NAMES_SHOWN = 10
LINES_SHOWN = 20
LINE_MAX_CHARS = 200


def render_answer(answer: Answer, color: bool = False) -> str:
    """The answer, then numbered citations with the best sentence marked."""
    if not answer.found:
        return f"{answer.answer}\n(`citebot sources` lists the articles I know.)"
    lines = [answer.answer, ""]
    for citation in answer.citations:
        lines.append(f"[{citation.rank}] {_marked_snippet(citation, color)}")
        lines.append(f"    — {describe_article(citation)}")
        if citation.url:
            lines.append(f"    {citation.url}")
        if citation.also_in:
            lines.append(f"    also in: {'; '.join(citation.also_in_titles or citation.also_in)}")
    return "\n".join(lines)


def describe_article(citation: Citation) -> str:
    details = ", ".join(part for part in (citation.source, citation.date) if part)
    return f"{citation.title} ({details})" if details else citation.title


def _marked_snippet(citation: Citation, color: bool) -> str:
    start, end = citation.highlight
    text = citation.snippet
    open_mark, close_mark = (BOLD, RESET) if color else ("**", "**")
    if end <= start:
        return text
    return f"{text[:start]}{open_mark}{text[start:end]}{close_mark}{text[end:]}"


def render_sources(sources: list[SourceInfo]) -> str:
    if not sources:
        return "No articles are indexed."
    lines = []
    for source in sources:
        details = ", ".join(p for p in (source.source, source.date) if p) or "no date"
        lines.append(f"{source.doc_id}\n    {source.title} ({details}), {source.passages} passages")
    return "\n".join(lines)


def render_build_report(report: BuildReport) -> str:
    if report.unchanged:
        head = f"Index is up to date: {report.articles} articles, {report.passages} passages."
    else:
        head = (
            f"Indexed {report.articles} articles, {report.passages} passages "
            f"({report.passages_embedded} embedded) in {report.seconds:.1f} s."
        )
    lines = [head]
    for label, files in (
        ("added", report.files_added),
        ("changed", report.files_changed),
        ("removed", report.files_removed),
    ):
        if files:
            lines.append(_names_line(f"  {label}: ", files))
    if report.skipped:
        lines.append(f"  skipped {len(report.skipped)} file(s):")
        lines.extend(_listed(report.skipped))
    if report.renamed:
        lines.append(f"  {len(report.renamed)} article(s) indexed under another id:")
        lines.extend(_listed(report.renamed))
    return "\n".join(lines)


def _names_line(head: str, files: Sequence[str]) -> str:
    """The first names that fit on one line, then how many more there are."""
    names: list[str] = []
    for name in files[:NAMES_SHOWN]:
        if names and len(head) + len(", ".join([*names, printable(name)])) > LINE_MAX_CHARS - 20:
            break
        names.append(printable(name))
    more = f", and {len(files) - len(names)} more" if len(files) > len(names) else ""
    return _shorten(head + ", ".join(names), LINE_MAX_CHARS - len(more)) + more


def _listed(entries: Sequence[str]) -> list[str]:
    lines = [_shorten(f"    {printable(entry)}", LINE_MAX_CHARS) for entry in entries[:LINES_SHOWN]]
    if len(entries) > LINES_SHOWN:
        lines.append(f"    … and {len(entries) - LINES_SHOWN} more (see the warnings)")
    return lines


def _shorten(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"
