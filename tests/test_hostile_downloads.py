"""An admin's file that cannot be fetched or read as it is: too big for Telegram to let a bot
download it, with no size declared beforehand, or nested too deeply to parse.

Both go through the real bot against the Bot API emulator (whose getFile refuses files over
20 MB, as Telegram's cloud Bot API does). Each gets a clear refusal naming the problem, never
"something went wrong", and nothing is saved into the corpus.
"""

from __future__ import annotations

import pytest

from tests.bot_fixtures import ADMIN_ID, BotHarness

TOO_BIG_TO_DOWNLOAD = 20 * 1024 * 1024 + 1
DEPTH = 100_000
NESTED = {
    "arrays": ("nested.jsonl", b'{"text": "x", "more": ' + b"[" * DEPTH + b"]" * DEPTH + b"}\n"),
    "objects": ("deep.jsonl", b'{"text": "x", "a": ' + b'{"a": ' * DEPTH + b"1" + b"}" * DEPTH),
}


async def assert_refused(bot: BotHarness, name: str, content: bytes, declare_size: bool) -> str:
    emu = bot.emu
    corpus = sorted(p.name for p in bot.config.corpus.path.iterdir())
    sent = emu.user_sends_document(ADMIN_ID, ADMIN_ID, name, content, declare_size=declare_size)
    reply = await emu.wait_for_reply(ADMIN_ID, after=sent, timeout=60)
    assert reply.text.startswith("I can't add that file: "), reply.text
    assert "went wrong" not in reply.text
    assert sorted(p.name for p in bot.config.corpus.path.iterdir()) == corpus
    return reply.text


async def test_a_file_too_big_to_download_with_no_declared_size_is_refused_clearly(
    library_bot: BotHarness,
) -> None:
    content = b"The harbour reopened. " * (TOO_BIG_TO_DOWNLOAD // 22 + 1)

    text = await assert_refused(library_bot, "huge.md", content, declare_size=False)

    assert "20 MB" in text and "limit is 5.0 MB" in text
    # Asking for it was the only way to learn its size: that refusal is expected, and the only one.
    (refused,) = library_bot.emu.rejections
    assert (refused.method, refused.description) == ("getFile", "Bad Request: file is too big")
    library_bot.emu.rejections.clear()


@pytest.mark.parametrize(("name", "content"), NESTED.values(), ids=NESTED.keys())
async def test_a_deeply_nested_file_is_refused_clearly(
    library_bot: BotHarness, name: str, content: bytes
) -> None:
    await assert_refused(library_bot, name, content, declare_size=True)
