"""Decides whether a message addresses the bot, and extracts the question from it.

In private chats every text is a question. In groups the bot answers only /ask (routed by PTB's
CommandHandler, which already ignores `/ask@otherbot`), replies to its own messages and @mentions.
"""

from __future__ import annotations

import re

from telegram import Message


def clean_question(text: str) -> str:
    """The question with runs of white space collapsed; empty when nothing but space is left."""
    return " ".join(text.split())


def question_after_command(text: str) -> str:
    """The text after the command word: `/ask@citebot  why?` → `why?` (empty when none)."""
    parts = text.split(None, 1)
    return clean_question(parts[1]) if len(parts) == 2 else ""


def _mention_pattern(bot_username: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@/.])@{re.escape(bot_username)}(?!\w)", re.IGNORECASE)


def mentions_bot(text: str, bot_username: str) -> bool:
    """Whether `@bot_username` appears in the text as a whole word (any letter case)."""
    return bool(bot_username) and _mention_pattern(bot_username).search(text) is not None


def remove_mentions(text: str, bot_username: str) -> str:
    """The text without its mentions of the bot."""
    if not bot_username:
        return text
    return _mention_pattern(bot_username).sub(" ", text)


def group_question(text: str, bot_username: str, replies_to_bot: bool) -> str | None:
    """The question in a group message, or None when the message does not address the bot.

    An addressed message with nothing but the mention gives an empty question (the caller
    answers that with a usage line).
    """
    if not (replies_to_bot or mentions_bot(text, bot_username)):
        return None
    return clean_question(remove_mentions(text, bot_username))


def private_question(text: str, bot_username: str) -> str:
    """The question in a private message: all of it, without any mention of the bot."""
    return clean_question(remove_mentions(text, bot_username))


def is_reply_to_bot(message: Message, bot_id: int) -> bool:
    """Whether the message replies to one of the bot's own messages.

    In forum topics every message without an explicit reply points at the topic's creation
    message; that is not a reply to the bot even when the bot created the topic.
    """
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return False
    return replied.from_user is not None and replied.from_user.id == bot_id
