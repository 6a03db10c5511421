"""Admin-only: /reindex, and article files sent in a private chat (saved, then indexed).

Both run the build on a worker thread (the handlers are registered with block=False), edit one
progress message as it goes, and report what changed; the live index keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Message, Update

from bot.context import BotState, CitebotContext
from bot.formatting import builds, notices
from bot.i18n import Translator, translator_for_update
from bot.memory import return_freed_memory
from bot.progress import ProgressMessage
from bot.replies import reply
from bot.uploads import (
    UploadRejectedError,
    check_content,
    check_size,
    safe_file_name,
    save_atomically,
)
from index.errors import BuildInProgressError, CitebotError

logger = logging.getLogger(__name__)


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
    if state.reindex_lock.locked():
        await reply(message, translator.gettext(notices.ALREADY_RUNNING))
        return
    full = (context.args or [""])[0].lower() == "full"
    async with state.reindex_lock:
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
    if state.reindex_lock.locked():
        await reply(message, translator.gettext(notices.ALREADY_RUNNING_UPLOAD))
        return
    async with state.reindex_lock:
        try:
            file_name, data = await _fetch_checked(message, state)
        except UploadRejectedError as rejection:
            logger.info("chat %s: upload rejected: %s", message.chat_id, rejection)
            reason = rejection.explain(translator)
            await reply(message, builds.upload_rejected(translator, reason))
            return
        await asyncio.to_thread(save_atomically, state.config.corpus.path, file_name, data)
        logger.info("chat %s: saved upload %s (%d bytes)", message.chat_id, file_name, len(data))
        await reply(message, builds.upload_saved(translator, file_name, len(data)))
        await rebuild_with_progress(message, state, translator, full=False)


async def _fetch_checked(message: Message, state: BotState) -> tuple[str, bytes]:
    document = message.document
    assert document is not None
    max_bytes = int(state.config.telegram.max_upload_mb * 1_000_000)
    file_name = safe_file_name(document.file_name)
    check_size(document.file_size, max_bytes)
    telegram_file = await document.get_file()
    data = bytes(await telegram_file.download_as_bytearray())
    check_size(len(data), max_bytes)
    check_content(data, file_name)
    return file_name, data


async def rebuild_with_progress(
    message: Message, state: BotState, translator: Translator, full: bool
) -> None:
    """Run the build off the event loop, showing progress, then its report or its error, in
    the admin's language. The caller holds `state.reindex_lock`."""
    shown = await reply(message, builds.progress_text(translator, None))
    progress = ProgressMessage(shown, translator)
    try:
        report = await asyncio.to_thread(state.service.rebuild, progress.report, full)
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
