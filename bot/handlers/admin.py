"""Admin-only: /reindex, and article files sent in a private chat (saved, then indexed).

Both run the build in a worker process (index/build_process.py: the bot's own process never
embeds), edit one progress message as it goes, and report what changed once the new build is
serving; the live index keeps answering meanwhile (the handlers are registered with block=False).
A file named like one already in the corpus waits for the admin's "Replace it".
A reindex the bot's stop cuts short says so, and says so again when the bot is back.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Message, ReplyParameters, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from bot.context import STATE_KEY, BotState, CitebotContext
from bot.formatting import builds, notices
from bot.i18n import Translator, translator_for, translator_for_update, translator_for_user
from bot.keyboards import parse_upload_choice, replace_keyboard
from bot.memory import return_freed_memory
from bot.progress import ProgressMessage
from bot.reindex_record import RunningReindex
from bot.replies import edit, reply
from bot.uploads import (
    UploadRejectedError,
    check_content,
    check_size,
    safe_file_name,
    save_atomically,
    would_replace,
)
from index.build_process import rebuild_in_worker
from index.build_protocol import BuildJob
from index.errors import BuildCancelledError, BuildInProgressError, CitebotError
from index.models import BuildProgress

logger = logging.getLogger(__name__)

TELEGRAM_DOWNLOAD_MB = 20  # the largest file Telegram's Bot API lets a bot download


async def admins_only(update: Update, state: BotState, action: str, refusal: str) -> bool:
    """True for an admin; anyone else gets the polite refusal (a message id, said in their
    language), and the refusal is logged."""
    if state.is_admin(update):
        return True
    message = update.effective_message
    assert message is not None
    user = update.effective_user
    logger.warning(
        "chat %s: %s refused for non-admin %s",
        message.chat_id,
        action,
        user.id if user else None,
    )
    await reply(message, translator_for_update(update).gettext(refusal))
    return False


async def reindex(update: Update, context: CitebotContext) -> None:
    """/reindex (admins): incremental build; `/reindex full` re-embeds everything."""
    message = update.effective_message
    if message is None:
        return
    state = context.state
    if not await admins_only(update, state, "/reindex", notices.NOT_ADMIN):
        return
    translator = translator_for_update(update)
    full = (context.args or [""])[0].lower() == "full"
    async with state.reindex_guard.hold() as held:
        if not held:  # here or, with replicas, on any other
            await reply(message, translator.gettext(notices.ALREADY_RUNNING))
            return
        await rebuild_with_progress(message, state, translator, full=full)


async def upload(update: Update, context: CitebotContext) -> None:
    """A document in a private chat: an admin's new article, checked, saved and indexed."""
    message = update.effective_message
    if message is None or message.document is None:
        return
    state = context.state
    if not await admins_only(update, state, "a file upload", notices.UPLOAD_NOT_ADMIN):
        return
    translator = translator_for_update(update)
    async with state.reindex_guard.hold() as held:
        if not held:
            await reply(message, translator.gettext(notices.ALREADY_RUNNING_UPLOAD))
            return
        try:
            file_name, data = await _fetch_checked(message, state)
        except UploadRejectedError as rejection:
            logger.info("chat %s: upload rejected: %s", message.chat_id, rejection)
            reason = rejection.explain(translator)
            await reply(message, builds.upload_rejected(translator, reason))
            return
        if would_replace(state.config.corpus.path, file_name):
            pending = await state.shared.uploads.hold(message.chat_id, file_name, data)
            logger.info("chat %s: upload %s would replace an article", message.chat_id, file_name)
            question = builds.upload_would_replace(translator, file_name)
            await reply(message, question, replace_keyboard(translator, pending.token))
            return
        await _save(state, message.chat_id, file_name, data)
        await reply(message, builds.upload_saved(translator, file_name, len(data)))
        await rebuild_with_progress(message, state, translator, full=False)


async def upload_choice(update: Update, context: CitebotContext) -> None:
    """A press of "Replace it" or "Keep the old one" under an upload named like an article."""
    query = update.callback_query
    if query is None:
        return
    state = context.state
    translator = translator_for_user(query.from_user)
    choice = parse_upload_choice(query.data)
    message = query.message if isinstance(query.message, Message) else None
    if not state.is_admin(update):
        logger.warning("upload choice refused for non-admin %s", query.from_user.id)
        await query.answer(translator.gettext(notices.NOT_ADMIN))
        return
    if choice is None or message is None:
        await query.answer(translator.gettext(notices.UPLOAD_EXPIRED))
        return
    if not choice.replace:
        kept = await state.shared.uploads.take(message.chat_id, choice.token)
        await query.answer(None if kept is not None else translator.gettext(notices.UPLOAD_EXPIRED))
        if kept is not None:
            await edit(message, builds.upload_kept(translator, kept.file_name))
        return
    async with state.reindex_guard.hold() as held:
        if not held:
            await query.answer(translator.gettext(notices.ALREADY_RUNNING))
            return  # the file stays held: the admin can press again when the build is done
        pending = await state.shared.uploads.take(message.chat_id, choice.token)
        if pending is None:
            await query.answer(translator.gettext(notices.UPLOAD_EXPIRED))
            return
        await query.answer()
        await _save(state, message.chat_id, pending.file_name, pending.data)
        await edit(message, builds.upload_saved(translator, pending.file_name, len(pending.data)))
        await rebuild_with_progress(message, state, translator, full=False)


async def _save(state: BotState, chat_id: int, file_name: str, data: bytes) -> None:
    await asyncio.to_thread(save_atomically, state.config.corpus.path, file_name, data)
    logger.info("chat %s: saved upload %s (%d bytes)", chat_id, file_name, len(data))


async def _fetch_checked(message: Message, state: BotState) -> tuple[str, bytes]:
    document = message.document
    assert document is not None
    max_bytes = int(state.config.telegram.max_upload_mb * 1_000_000)
    file_name = safe_file_name(document.file_name)
    check_size(document.file_size, max_bytes)
    try:
        telegram_file = await document.get_file()
    except BadRequest as error:
        # An update need not give the file's size; Telegram then refuses the download itself.
        if "too big" not in error.message.lower():
            raise
        raise UploadRejectedError(
            lambda t: t.gettext(
                "the file is larger than the {telegram} MB Telegram lets bots download; "
                "the limit is {limit} MB"
            ).format(telegram=TELEGRAM_DOWNLOAD_MB, limit=t.decimal(max_bytes / 1_000_000))
        ) from error
    data = bytes(await telegram_file.download_as_bytearray())
    check_size(len(data), max_bytes)
    try:
        await asyncio.to_thread(check_content, data, file_name)  # HTML extraction is CPU work
    except RecursionError as error:  # JSON nested thousands deep
        raise UploadRejectedError(
            lambda t: t.gettext("the file is nested too deeply to be read")
        ) from error
    return file_name, data


async def rebuild_with_progress(
    message: Message, state: BotState, translator: Translator, full: bool
) -> None:
    """Run the build in a worker process, showing progress, then its report or its error, in
    the admin's language. The caller holds `state.reindex_guard`."""
    shown = await reply(message, builds.progress_text(translator, None))
    progress = ProgressMessage(shown, translator)
    record = state.reindex_record
    await asyncio.to_thread(
        record.remember, RunningReindex(shown.chat_id, shown.message_id, translator.language)
    )
    interrupted = False

    def report_progress(step: BuildProgress) -> None:
        progress.report(step)
        state.metrics.build_step(step)

    config = state.config
    job = BuildJob(
        config.corpus, config.passages, config.index, full, logging.getLogger().level,
        config.database,
    )  # fmt: skip
    try:
        report = await asyncio.to_thread(
            rebuild_in_worker, state.service, job, report_progress, state.stopping
        )
    except BuildCancelledError:
        interrupted = True  # the record stays: the admin hears of it again after the restart
        logger.warning("chat %s: reindex interrupted: the bot is stopping", message.chat_id)
        await progress.finish(builds.reindex_interrupted_text(translator, restarted=False))
        return
    except BuildInProgressError:
        # Someone else (e.g. `citebot index` on the server) is building right now.
        await progress.finish(translator.gettext(notices.ALREADY_RUNNING))
        return
    except CitebotError as error:
        logger.error("chat %s: reindex failed: %s", message.chat_id, error)
        await progress.finish(builds.build_failed_text(translator, str(error)))
        return
    except Exception:
        unexpected = translator.gettext("an unexpected error (see the log)")
        await progress.finish(builds.build_failed_text(translator, unexpected))
        raise
    finally:
        state.metrics.build_ended()
        if not interrupted:
            await asyncio.to_thread(record.forget)
        await asyncio.to_thread(return_freed_memory)
    logger.info(
        "chat %s: reindex %s done: %d articles, %d passages in %.1f s",
        message.chat_id,
        report.build_id,
        report.articles,
        report.passages,
        report.seconds,
    )
    await progress.finish(builds.report_text(translator, report))


async def report_interrupted_reindex(application: Application) -> None:  # type: ignore[type-arg]
    """At start: tell the admin whose reindex a stop or a crash cut short (once), editing its
    progress message and replying under it."""
    state: BotState = application.bot_data[STATE_KEY]
    running = await asyncio.to_thread(state.reindex_record.take)
    if running is None:
        return
    text = builds.reindex_interrupted_text(translator_for(running.language), restarted=True)
    bot = application.bot
    logger.warning("chat %s: the last reindex was interrupted; telling the admin", running.chat_id)
    try:
        await bot.edit_message_text(text, chat_id=running.chat_id, message_id=running.message_id)
    except TelegramError as error:  # deleted, or already saying so
        logger.info("chat %s: cannot edit the old progress: %s", running.chat_id, error)
    threading = ReplyParameters(message_id=running.message_id, allow_sending_without_reply=True)
    try:
        await bot.send_message(running.chat_id, text, reply_parameters=threading)
    except TelegramError as error:
        logger.warning("chat %s: cannot report the interrupted reindex: %s", running.chat_id, error)
