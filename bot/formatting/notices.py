"""Every other message the bot sends, as Telegram HTML: help, sources, stats, reindex, refusals."""

from __future__ import annotations

from collections.abc import Sequence

from bot.formatting.markup import MAX_TEXT, escape, truncate, visible_length
from bot.stats import StatsSnapshot
from index.models import BuildProgress, BuildReport
from index.service import IndexInfo, SourceInfo

NON_TEXT_HINT = "I can only read text. Send me your question as a message."
EMPTY_QUESTION_HINT = "Send me a question about the news articles I know — /sources lists them."
UNKNOWN_COMMAND = "I don't know that command. /help shows what I can do."
RATE_LIMITED = "You're asking faster than I can keep up. Please wait a minute, then ask again."
GROUP_RATE_LIMITED = (
    "This group is asking faster than Telegram lets me reply here. "
    "Please wait a minute, then ask again."
)
EXPIRED = "This answer has expired — ask again."
NOT_ADMIN = "Sorry, only citebot's admins can do that."
UPLOAD_NOT_ADMIN = "Sorry, only citebot's admins can add articles."
ALREADY_RUNNING = "A reindex is already running; try again when it has finished."
VOTE_THANKS = "Thanks for the feedback!"
NO_MORE = "No more sources for this question."
SOMETHING_WRONG = "Sorry, something went wrong on my side. Please try again later."


def start_text(bot_username: str) -> str:
    """The /start greeting in a private chat."""
    return (
        "Hi! I answer questions about a collection of news articles and quote where I found "
        "the answer.\n\nJust send me a question.\n\n" + help_text(bot_username)
    )


def help_text(bot_username: str) -> str:
    """The /help text; it leads with /ask and replies, which reach the bot even in privacy mode."""
    name = escape(bot_username)
    return (
        "<b>How to ask me</b>\n"
        "• In a group: <code>/ask your question</code>, or reply to one of my messages.\n"
        "• In a private chat: just send the question.\n"
        f"• In any chat: type <code>@{name} your question</code> and pick a quote.\n\n"
        "/sources — the articles I know\n"
        "/help — this message"
    )


def ask_usage(bot_username: str) -> str:
    """The reply to /ask without a question."""
    return (
        "Ask me like this: <code>/ask what happened at Baikonur?</code> "
        f"(in groups also <code>/ask@{escape(bot_username)} …</code>)"
    )


def group_greeting() -> str:
    """Said once when the bot is added to a group."""
    return (
        "Hello! I answer questions about a collection of news articles, with quotes.\n"
        "Ask with <code>/ask your question</code>, or reply to one of my messages. "
        "/help says more."
    )


def rejected_question(reason: str) -> str:
    """A question the service refused (e.g. no index yet), with its one-line reason."""
    return escape(truncate(reason, 500))


def sources_text(sources: Sequence[SourceInfo]) -> str:
    """The /sources list: each article with its date and outlet, as many as fit."""
    if not sources:
        return "I don't know any articles yet — an admin can add some."
    text = f"<b>Articles I know ({len(sources)})</b>"
    for number, source in enumerate(sources, start=1):
        meta = ", ".join(escape(truncate(p, 60)) for p in (source.date, source.source) if p)
        line = f"\n{number}. {escape(truncate(source.title or source.doc_id, 200))}"
        line += f" — {meta}" if meta else ""
        remaining = len(sources) - number + 1
        if visible_length(text + line) > MAX_TEXT - 40:
            return text + f"\n… and {remaining} more"
        text += line
    return text


def stats_text(stats: StatsSnapshot, votes: tuple[int, int], info: IndexInfo | None) -> str:
    """The admin /stats message."""
    lines = [
        "<b>citebot stats</b> (since start)",
        f"Questions answered: {stats.questions}",
        f"Not found: {stats.not_found} ({stats.not_found_rate:.0%})",
        f"Latency: p50 {stats.p50_ms:.0f} ms, p95 {stats.p95_ms:.0f} ms",
        f"Feedback (all time): 👍 {votes[0]} · 👎 {votes[1]}",
    ]
    if info is None:
        lines.append("Index: none loaded")
    else:
        lines += [
            f"Index: {info.articles} articles, {info.passages} passages, "
            f"{info.bytes_on_disk / 1_000_000:.1f} MB ({escape(info.index_type)})",
            f"Built {escape(info.built_at)} in {info.build_seconds:.1f} s, "
            f"build <code>{escape(info.build_id)}</code>",
        ]
    return "\n".join(lines)


def progress_text(progress: BuildProgress | None) -> str:
    """The progress message a reindex edits as it goes."""
    if progress is None:
        return "⏳ Reindexing…"
    lines = [f"⏳ Reindexing — {escape(progress.stage)}"]
    if progress.files_total or progress.files_scanned:
        lines.append(f"Files scanned: {progress.files_scanned}/{progress.files_total}")
    if progress.passages_to_embed or progress.passages_embedded:
        lines.append(
            f"Passages embedded: {progress.passages_embedded}/{progress.passages_to_embed}"
        )
    return "\n".join(lines)


def report_text(report: BuildReport) -> str:
    """What a finished reindex changed."""
    if report.unchanged:
        head = f"✅ Index is up to date — nothing changed ({report.seconds:.1f} s)."
    else:
        head = f"✅ Reindex done in {report.seconds:.1f} s."
    lines = [
        head,
        f"Articles: {len(report.files_added)} added, {len(report.files_changed)} changed, "
        f"{len(report.files_removed)} removed — {report.articles} in total",
        f"Passages: {report.passages} ({report.passages_embedded} newly embedded)",
    ]
    for label, names in (
        ("Added", report.files_added),
        ("Changed", report.files_changed),
        ("Removed", report.files_removed),
        ("Skipped", report.skipped),
    ):
        if names:
            lines.append(f"{label}: " + escape(truncate(", ".join(names), 600)))
    return "\n".join(lines)


def build_failed_text(reason: str) -> str:
    """A failed reindex; the old index keeps serving."""
    return (
        f"❌ Reindex failed: {escape(truncate(reason, 1500))}\n"
        "The previous index keeps answering questions."
    )


def upload_rejected(reason: str) -> str:
    """An admin's file that failed a check."""
    return f"I can't add that file: {escape(truncate(reason, 300))}"


def upload_saved(file_name: str, size: int) -> str:
    """An admin's file that was saved into the corpus, before indexing."""
    return f"Saved <code>{escape(file_name)}</code> ({size / 1000:.1f} kB). Indexing it now."
