"""The admin's messages about builds, as Telegram HTML: reindex progress, reports and failures,
and the files an admin sends. Each function takes the admin's Translator."""

from __future__ import annotations

from bot.formatting.markup import escape, truncate
from bot.formatting.notices import BUILD_STAGES
from bot.i18n import Translator
from index.corpus import printable
from index.models import BuildProgress, BuildReport

NAMES_SHOWN = 10  # per list in a reindex report; the rest are counted


def progress_text(translator: Translator, progress: BuildProgress | None) -> str:
    """The progress message a reindex edits as it goes."""
    _ = translator.gettext
    if progress is None:
        return "⏳ " + _("Reindexing…")
    stage = _(BUILD_STAGES[progress.stage]) if progress.stage in BUILD_STAGES else progress.stage
    lines = ["⏳ " + _("Reindexing — {stage}").format(stage=escape(stage))]
    if progress.files_total or progress.files_scanned:
        lines.append(
            _("Files scanned: {done}/{total}").format(
                done=progress.files_scanned, total=progress.files_total
            )
        )
    if progress.passages_to_embed or progress.passages_embedded:
        lines.append(
            _("Passages embedded: {done}/{total}").format(
                done=progress.passages_embedded, total=progress.passages_to_embed
            )
        )
    return "\n".join(lines)


def report_text(translator: Translator, report: BuildReport) -> str:
    """What a finished reindex changed."""
    _ = translator.gettext
    seconds = translator.decimal(report.seconds)
    if report.unchanged:
        head = _("Index is up to date — nothing changed ({seconds} s).").format(seconds=seconds)
    else:
        head = _("Reindex done in {seconds} s.").format(seconds=seconds)
    lines = [
        "✅ " + head,
        _(
            "Articles: {added} added, {changed} changed, {removed} removed — {total} in total"
        ).format(
            added=len(report.files_added),
            changed=len(report.files_changed),
            removed=len(report.files_removed),
            total=report.articles,
        ),
        _("Passages: {count} ({embedded} newly embedded)").format(
            count=report.passages, embedded=report.passages_embedded
        ),
    ]
    for label, names, shown in (
        (_("Added"), report.files_added, NAMES_SHOWN),
        (_("Changed"), report.files_changed, NAMES_SHOWN),
        (_("Removed"), report.files_removed, NAMES_SHOWN),
        (_("Skipped"), report.skipped, NAMES_SHOWN),
        # TRANSLATORS: articles indexed under another id than the one they claimed.
        (_("Renamed"), report.renamed, 3),
    ):
        if names:
            listed = ", ".join(printable(name) for name in names[:shown])
            lines.append(f"{label}: " + escape(truncate(listed, 600)))
            if len(names) > shown:
                more = len(names) - shown
                lines[-1] += " " + translator.ngettext(
                    "and {count} more", "and {count} more", more
                ).format(count=more)
    return "\n".join(lines)


def build_failed_text(translator: Translator, reason: str) -> str:
    """A failed reindex; the old index keeps serving. The reason comes from index/ as it is."""
    _ = translator.gettext
    head = _("Reindex failed: {reason}").format(reason=escape(truncate(reason, 1500)))
    return f"❌ {head}\n" + _("The previous index keeps answering questions.")


def reindex_interrupted_text(translator: Translator, restarted: bool) -> str:
    """A reindex the bot's stop cut short: said as the bot stops, and again once it is back."""
    _ = translator.gettext
    if restarted:
        head = _("Reindex interrupted: the bot stopped before it finished.")
        advice = _("The previous index keeps answering questions; send /reindex to finish it.")
    else:
        head = _("Reindex interrupted: the bot is stopping.")
        advice = _(
            "The previous index keeps answering questions; "
            "send /reindex when the bot is back to finish it."
        )
    return f"⏹ {head}\n{advice}"


def upload_rejected(translator: Translator, reason: str) -> str:
    """An admin's file that failed a check (`reason` already in the admin's language)."""
    text = translator.gettext("I can't add that file: {reason}")
    return text.format(reason=escape(truncate(reason, 300)))


def upload_would_replace(translator: Translator, file_name: str) -> str:
    """The question under "Replace it" / "Keep the old one" for an upload named like an article."""
    text = translator.gettext("{file} is already in the corpus. Replace it with the file you sent?")
    return text.format(file=f"<code>{escape(file_name)}</code>")


def upload_kept(translator: Translator, file_name: str) -> str:
    """The admin chose to keep the article that was there."""
    text = translator.gettext("Kept the old {file}; nothing changed.")
    return text.format(file=f"<code>{escape(file_name)}</code>")


def upload_saved(translator: Translator, file_name: str, size: int) -> str:
    """An admin's file that was saved into the corpus, before indexing."""
    text = translator.gettext("Saved {file} ({kilobytes} kB). Indexing it now.")
    return text.format(
        file=f"<code>{escape(file_name)}</code>", kilobytes=translator.decimal(size / 1000)
    )
