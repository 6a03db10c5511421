"""BotAPIEmulator: the one object a test holds to run a real PTB bot against a fake Telegram.

It owns the world (users, chats, messages), the HTTP server PTB talks to, and the records of
what the bot did; the methods below only delegate, so each concern stays in its own module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import chats, scenario, waiting
from .errors import ApiError, EmulatorError
from .records import DocumentRecord, EditRecord, Rejection, SentMessage
from .server import ApiServer
from .state import World
from .webhook import Delivery, WebhookDelivery


class BotAPIEmulator:
    """A Telegram Bot API server on 127.0.0.1 with scripted users, chats and faults.

    Point PTB at it with ``base_url=emu.base_url`` and ``base_file_url=emu.base_file_url``::

        async with BotAPIEmulator() as emu:
            emu.add_user(1001, "Alice", "alice")
            emu.add_private_chat(1001)
            app = Application.builder().token(emu.token).base_url(emu.base_url)...build()
            ...start polling...
            emu.user_sends(1001, 1001, "/ask what happened?")
            reply = await emu.wait_for_reply(1001)
            assert emu.rejections == []
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        bot_username: str = "citebot_test_bot",
        *,
        bot_name: str = "citebot",
        privacy_mode: bool = True,
    ) -> None:
        self.world = World(token, bot_username, bot_name, privacy_mode)
        self._server = ApiServer(self.world)
        self._webhook = WebhookDelivery(self.world)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, port: int | None = None) -> BotAPIEmulator:
        """Start serving on a random free loopback port, or on `port`.

        Users, chats and pending updates live on while the server is stopped, so stop() then
        start(port=emu.port) is a network outage: updates sent meanwhile wait for the bot.
        """
        await self._server.start(port or 0)
        self._webhook.start()
        return self

    async def stop(self) -> None:
        """End pending long polls and webhook deliveries, and stop the server."""
        await self._webhook.stop()
        await self._server.stop()

    @property
    def port(self) -> int | None:
        """The port the server listens (or last listened) on."""
        return self._server.port

    async def __aenter__(self) -> BotAPIEmulator:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def token(self) -> str:
        return self.world.token

    @property
    def bot_id(self) -> int:
        return self.world.bot_id

    @property
    def bot_username(self) -> str:
        return str(self.world.bot_user["username"])

    @property
    def bot_user(self) -> dict[str, Any]:
        """The bot's User object, as it appears in `from` of its messages."""
        return dict(self.world.bot_user)

    @property
    def base_url(self) -> str:
        """PTB's base_url (it appends the token itself)."""
        return f"{self._origin()}/bot"

    @property
    def base_file_url(self) -> str:
        """PTB's base_file_url (it appends the token itself)."""
        return f"{self._origin()}/file/bot"

    def _origin(self) -> str:
        if self._server.port is None:
            raise EmulatorError("the emulator is not started: await emu.start() first")
        return f"http://127.0.0.1:{self._server.port}"

    # -- the cast ----------------------------------------------------------------------

    def add_user(
        self, user_id: int, first_name: str, username: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A user (extra: last_name, language_code); returns the User object."""
        return chats.add_user(self.world, user_id, first_name, username, **extra)

    def add_private_chat(self, user_id: int) -> dict[str, Any]:
        """The user's private chat with the bot; its id is the user id."""
        return chats.add_private_chat(self.world, user_id)

    def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        supergroup: bool = True,
        forum: bool = False,
        admins: Iterable[int] = (),
        **extra: Any,
    ) -> dict[str, Any]:
        """A (super)group; extra: username, bot_is_member=True, bot_is_admin=False."""
        return chats.add_group(
            self.world, chat_id, title, supergroup=supergroup, forum=forum, admins=admins, **extra
        )

    def add_channel(self, chat_id: int, title: str, **extra: Any) -> dict[str, Any]:
        """A channel; extra: username, bot_is_admin=True."""
        return chats.add_channel(self.world, chat_id, title, **extra)

    def add_forum_topic(self, chat_id: int, name: str) -> int:
        """A topic in a forum supergroup; returns its message_thread_id."""
        return chats.add_forum_topic(self.world, chat_id, name)

    def block_bot(self, user_id: int) -> None:
        """The user blocks the bot (sending to them then fails with 403)."""
        chats.block_bot(self.world, user_id)

    # -- what users do -------------------------------------------------------------------

    def user_sends(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
    ) -> dict[str, Any]:
        """A text message from a user; entities (commands, mentions, URLs) are detected."""
        return scenario.user_sends(
            self.world,
            chat_id,
            user_id,
            text,
            reply_to_message_id=reply_to_message_id,
            message_thread_id=message_thread_id,
        )

    def user_sends_document(
        self,
        chat_id: int,
        user_id: int,
        filename: str,
        content: bytes,
        *,
        caption: str | None = None,
        mime_type: str | None = None,
        declare_size: bool = True,
    ) -> dict[str, Any]:
        """A document from a user, downloadable through getFile (without `file_size` in the
        update when `declare_size` is False)."""
        return scenario.user_sends_document(
            self.world, chat_id, user_id, filename, content,
            caption=caption, mime_type=mime_type, declare_size=declare_size,
        )  # fmt: skip

    def user_sends_photo(
        self, chat_id: int, user_id: int, *, caption: str | None = None
    ) -> dict[str, Any]:
        return scenario.user_sends_photo(self.world, chat_id, user_id, caption=caption)

    def user_sends_sticker(self, chat_id: int, user_id: int) -> dict[str, Any]:
        return scenario.user_sends_sticker(self.world, chat_id, user_id)

    def user_edits(self, chat_id: int, message_id: int, new_text: str) -> dict[str, Any]:
        """The author edits a text message (an edited_message update)."""
        return scenario.user_edits(self.world, chat_id, message_id, new_text)

    def press_button(self, chat_id: int, message_id: int, user_id: int, callback_data: str) -> str:
        """Press an existing inline button; returns the callback query id."""
        return scenario.press_button(self.world, chat_id, message_id, user_id, callback_data)

    def inline_query(self, user_id: int, query: str, offset: str = "") -> str:
        """An inline query; returns its id."""
        return scenario.inline_query(self.world, user_id, query, offset)

    def bot_added_to_group(self, chat_id: int, by_user_id: int) -> None:
        """my_chat_member (left -> member) plus the new_chat_members service message."""
        scenario.bot_membership_changes(self.world, chat_id, by_user_id, "member")

    def bot_removed_from_group(self, chat_id: int, by_user_id: int) -> None:
        """my_chat_member (-> kicked); sending there then fails with 403."""
        scenario.bot_membership_changes(self.world, chat_id, by_user_id, "kicked")

    def channel_post(self, chat_id: int, text: str) -> dict[str, Any]:
        return scenario.channel_post(self.world, chat_id, text)

    def anonymous_admin_sends(self, chat_id: int, text: str) -> dict[str, Any]:
        return scenario.anonymous_admin_sends(self.world, chat_id, text)

    # -- webhook delivery ----------------------------------------------------------------

    def route_webhook(self, url: str) -> None:
        """Deliver updates to `url` (a loopback http address) whenever a webhook is set: it
        stands for the https URL the bot gave setWebhook."""
        self._webhook.route = url

    def duplicate_webhook_deliveries(self, every: int) -> None:
        """Deliver every `every`-th update twice (0: never), as Telegram sometimes does."""
        self._webhook.duplicate_every = every

    @property
    def webhook_deliveries(self) -> list[Delivery]:
        """Every POST to the webhook: update id, whether a duplicate copy, the status."""
        return self._webhook.deliveries

    # -- faults ------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        count: int = 1,
        status: int = 429,
        retry_after: int = 1,
        description: str | None = None,
        *,
        drop: bool = False,
    ) -> None:
        """Make the next `count` calls of `method` ("*" = any method) fail with `status`.

        With drop=True the server closes the connection instead of answering (recorded in
        injected_failures with status 0). Either way the call is not carried out.
        """
        error = ApiError.injected(status, retry_after, description)
        self._server.fail_next(method, count, error, drop)

    def clear_faults(self) -> None:
        """Forget the failures fail_next asked for that have not happened yet."""
        self._server.faults.clear()

    def set_latency(self, seconds: float) -> None:
        """Delay every API response by `seconds`."""
        self._server.latency = seconds

    def in_flight(self, method: str) -> int:
        """Calls of `method` the emulator has received and not answered yet."""
        return self._server.in_flight[method.lower()]

    # -- observing -----------------------------------------------------------------------

    @property
    def sent(self) -> list[SentMessage]:
        return self.world.records.sent

    @property
    def edits(self) -> list[EditRecord]:
        return self.world.records.edits

    @property
    def deletions(self) -> list[tuple[int, int]]:
        return self.world.records.deletions

    @property
    def chat_actions(self) -> list[tuple[int, str]]:
        return self.world.records.chat_actions

    @property
    def callback_answers(self) -> dict[str, dict[str, Any]]:
        return self.world.records.callback_answers

    @property
    def inline_answers(self) -> dict[str, dict[str, Any]]:
        return self.world.records.inline_answers

    @property
    def documents(self) -> list[DocumentRecord]:
        return self.world.records.documents

    @property
    def reactions(self) -> list[tuple[int, int, Any]]:
        return self.world.records.reactions

    @property
    def commands(self) -> dict[str, list[dict[str, Any]]]:
        """Command lists by scope key: "default", "chat:<id>", ... ("@<lang>" if localised)."""
        return self.world.commands

    @property
    def rejections(self) -> list[Rejection]:
        """Every refused call; each unpacks as (method, params, description)."""
        return self.world.records.rejections

    @property
    def injected_failures(self) -> list[tuple[str, int]]:
        return self.world.records.injected_failures

    @property
    def not_delivered(self) -> list[dict[str, Any]]:
        """Group messages privacy mode kept from the bot."""
        return self.world.not_delivered

    @property
    def all_messages_sent_count(self) -> int:
        return len(self.world.records.sent)

    def messages_in(self, chat_id: int) -> list[SentMessage]:
        """The bot's messages in a chat as they read now (after edits, without deleted ones)."""
        return self.world.records.messages_in(chat_id)

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """Any stored message (user's or bot's) as Telegram holds it now."""
        found = self.world.test_chat(chat_id).messages.get(message_id)
        return dict(found) if found is not None else None

    def reset_records(self) -> None:
        """Clear the observation logs; chats, messages and commands stay."""
        self.world.records.reset()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        """Wait until predicate() is true; TimeoutError saying what went wrong otherwise."""
        await waiting.wait_until(self.world, predicate, timeout)

    async def wait_for_reply(
        self,
        chat_id: int,
        *,
        after: int | Mapping[str, Any] | None = None,
        after_count: int | None = None,
        timeout: float = 10,
    ) -> SentMessage:
        """The first message the bot sent in the chat after a point, as it was sent.

        `after` is a message id (or a message dict): the reply is the first bot message with a
        larger id. Left out, it is the chat's latest message from anyone but the bot, i.e.
        "the reply to what was just said". `after_count` instead skips the first
        `after_count` entries of `sent` (pass an earlier `all_messages_sent_count`).
        """
        return await waiting.wait_for_reply(self.world, chat_id, after, after_count, timeout)
