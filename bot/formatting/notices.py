"""Every other message the bot sends, as Telegram HTML: help, sources, stats, hints, refusals.

Each function takes the Translator of the user it speaks to. The constants are message ids
marked for the catalog; whoever sends one translates it (`translator.gettext(RATE_LIMITED)`).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.formatting.markup import MAX_TEXT, escape, truncate, visible_length
from bot.i18n import N_, Translator
from bot.stats import StatsSnapshot
from index.service import IndexInfo, SourceInfo

NON_TEXT_HINT = N_("I can only read text. Send me your question as a message.")
EMPTY_QUESTION_HINT = N_("Send me a question about the news articles I know — /sources lists them.")
UNKNOWN_COMMAND = N_("I don't know that command. /help shows what I can do.")
RATE_LIMITED = N_("You're asking faster than I can keep up. Please wait a minute, then ask again.")
GROUP_RATE_LIMITED = N_(
    "This group is asking faster than Telegram lets me reply here. "
    "Please wait a minute, then ask again."
)
EXPIRED = N_("This answer has expired — ask again.")
NOT_ADMIN = N_("Sorry, only citebot's admins can do that.")
UPLOAD_NOT_ADMIN = N_("Sorry, only citebot's admins can add articles.")
ALREADY_RUNNING = N_("A reindex is already running; try again when it has finished.")
ALREADY_RUNNING_UPLOAD = N_(
    "A reindex is already running; try again when it has finished. Send the file again then."
)
UPLOAD_EXPIRED = N_("This choice has expired — send the file again.")
VOTE_THANKS = N_("Thanks for the feedback!")
VOTE_NOT_SAVED = N_("Sorry, I couldn't save your vote just now. Please try again later.")
NO_MORE = N_("No more sources for this question.")
SOMETHING_WRONG = N_("Sorry, something went wrong on my side. Please try again later.")
# The database replicas share is unreachable. Behind a webhook Telegram delivers the question
# again, so it is answered when the database is back; with long polling it is not.
UNAVAILABLE_WILL_ANSWER = N_(
    "Sorry, I can't answer just now: my database is temporarily unavailable. "
    "I'll answer your question as soon as it is back."
)
UNAVAILABLE_ASK_AGAIN = N_(
    "Sorry, I can't answer just now: my database is temporarily unavailable. "
    "Please ask again in a few minutes."
)
# The stages a build reports (index/builder.py), as a reindex's progress message names them.
BUILD_STAGES = {
    # TRANSLATORS: this and the next four are stages of a reindex, shown as "Reindexing — …".
    "scanning": N_("scanning"),
    "loading model": N_("loading model"),
    "embedding": N_("embedding"),
    "indexing": N_("indexing"),
    "publishing": N_("publishing"),
}


def start_text(translator: Translator, bot_username: str, languages: Sequence[str]) -> str:
    """The /start greeting in a private chat."""
    _ = translator.gettext
    greeting = _(
        "Hi! I answer questions about a collection of news articles and quote where I found "
        "the answer."
    )
    invitation = _("Just send me a question.")
    return f"{greeting}\n\n{invitation}\n\n" + help_text(translator, bot_username, languages)


def help_text(translator: Translator, bot_username: str, languages: Sequence[str]) -> str:
    """The /help text; it leads with /ask and replies, which reach the bot even in privacy mode,
    and names the languages questions may be asked in (`languages`: ISO 639-1 codes)."""
    _ = translator.gettext
    name = escape(bot_username)
    lines = [
        "<b>" + _("How to ask me") + "</b>",
        # TRANSLATORS: keep the HTML tags; "your question" may be translated.
        _("• In a group: <code>/ask your question</code>, or reply to one of my messages."),
        _("• In a private chat: just send the question."),
        _("• In any chat: type <code>@{bot} your question</code> and pick a quote.").format(
            bot=name
        ),
    ]
    if languages:
        lines += ["", escape(question_languages_text(translator, languages))]
    lines += ["", _("/sources — the articles I know"), _("/help — this message")]
    return "\n".join(lines)


def question_languages_text(translator: Translator, languages: Sequence[str]) -> str:
    """The sentence naming the languages questions may be asked in, in the user's language."""
    names = translator.language_names(languages)
    if len(languages) == 1:
        return translator.gettext("You can ask in {language}.").format(language=names)
    return translator.gettext("You can ask in any of these languages: {languages}.").format(
        languages=names
    )


def ask_usage(translator: Translator, bot_username: str, languages: Sequence[str]) -> str:
    """The reply to /ask without a question; the example is in the user's language only when
    questions in it are understood."""
    example = "what happened at Baikonur?"
    if translator.language in languages:
        # TRANSLATORS: an example question about the articles shipped with the bot.
        example = translator.gettext("what happened at Baikonur?")
    # TRANSLATORS: keep the HTML tags and the {placeholders}.
    text = translator.gettext(
        "Ask me like this: <code>/ask {example}</code> (in groups also <code>/ask@{bot} …</code>)"
    )
    return text.format(example=escape(example), bot=escape(bot_username))


def group_greeting(translator: Translator) -> str:
    """Said once when the bot is added to a group, in the language of whoever added it."""
    _ = translator.gettext
    return (
        _("Hello! I answer questions about a collection of news articles, with quotes.")
        + "\n"
        # TRANSLATORS: keep the HTML tags; "your question" may be translated.
        + _(
            "Ask with <code>/ask your question</code>, or reply to one of my messages. "
            "/help says more."
        )
    )


def rejected_question(translator: Translator, reason: str) -> str:
    """A question the service refused (e.g. no index yet), with its one-line reason.

    The reason comes from index/ as it is (in English): it names what an admin must do.
    """
    text = translator.gettext("I can't answer that right now: {reason}")
    return escape(text.format(reason=truncate(reason, 500)))


def sources_text(translator: Translator, sources: Sequence[SourceInfo]) -> str:
    """The /sources list: each article with its date and outlet, as many as fit."""
    _ = translator.gettext
    if not sources:
        return _("I don't know any articles yet — an admin can add some.")
    text = "<b>" + _("Articles I know ({count})").format(count=len(sources)) + "</b>"
    for number, source in enumerate(sources, start=1):
        meta = ", ".join(escape(truncate(p, 60)) for p in (source.date, source.source) if p)
        line = f"\n{number}. {escape(truncate(source.title or source.doc_id, 200))}"
        line += f" — {meta}" if meta else ""
        remaining = len(sources) - number + 1
        if visible_length(text + line) > MAX_TEXT - 40:
            return text + "\n" + _("… and {count} more").format(count=remaining)
        text += line
    return text


def articles_count(translator: Translator, count: int) -> str:
    """A count of articles: "1 article", "5 articles"; Russian has three forms (статья, статьи,
    статей)."""
    return translator.ngettext("{count} article", "{count} articles", count).format(count=count)


def passages_count(translator: Translator, count: int) -> str:
    """A count of passages: "1 passage", "5 passages", in the plural form the count needs."""
    return translator.ngettext("{count} passage", "{count} passages", count).format(count=count)


def stats_text(
    translator: Translator, stats: StatsSnapshot, votes: tuple[int, int], info: IndexInfo | None
) -> str:
    """The admin /stats message."""
    _ = translator.gettext
    lines = [
        _("<b>citebot stats</b> (since start)"),
        _("Questions answered: {count}").format(count=stats.questions),
        _("Not found: {count} ({share})").format(
            count=stats.not_found, share=f"{stats.not_found_rate:.0%}"
        ),
        _("Latency: p50 {p50} ms, p95 {p95} ms").format(
            p50=f"{stats.p50_ms:.0f}", p95=f"{stats.p95_ms:.0f}"
        ),
        _("Feedback (all time): 👍 {up} · 👎 {down}").format(up=votes[0], down=votes[1]),
    ]
    if info is None:
        lines.append(_("Index: none loaded"))
    else:
        lines += [
            _("Index: {articles}, {passages}, {megabytes} MB ({kind})").format(
                articles=articles_count(translator, info.articles),
                passages=passages_count(translator, info.passages),
                megabytes=translator.decimal(info.bytes_on_disk / 1_000_000),
                kind=escape(info.index_type),
            ),
            _("Built {when} in {seconds} s, build {build}").format(
                when=escape(info.built_at),
                seconds=translator.decimal(info.build_seconds),
                build=f"<code>{escape(info.build_id)}</code>",
            ),
        ]
    return "\n".join(lines)
