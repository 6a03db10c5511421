"""A Telegram Bot API emulator for end-to-end tests of a real python-telegram-bot Application.

It speaks HTTP on 127.0.0.1 like api.telegram.org, validates requests as strictly as Telegram
(HTML markup, UTF-16 length limits, callback data size, reply targets, chat access) and lets a
test script users, chats and faults. See BotAPIEmulator for the test-facing API.
"""

from .emulator import BotAPIEmulator
from .errors import ApiError, EmulatorError
from .records import DocumentRecord, EditRecord, Rejection, SentMessage

__all__ = [
    "ApiError",
    "BotAPIEmulator",
    "DocumentRecord",
    "EditRecord",
    "EmulatorError",
    "Rejection",
    "SentMessage",
]
