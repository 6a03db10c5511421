"""Who the bot answers in a group, and what it takes the question to be."""

from __future__ import annotations

import pytest

from bot.addressing import (
    group_question,
    mentions_bot,
    private_question,
    question_after_command,
)

BOT = "cite_bot"


@pytest.mark.parametrize(
    ("text", "replies_to_bot", "question"),
    [
        ("what about the flags?", False, None),
        ("@someone_else what about the flags?", False, None),
        ("email me at x@cite_bot.com", False, None),
        ("@cite_botty hello", False, None),
        ("@cite_bot what about the flags?", False, "what about the flags?"),
        ("what about the flags, @cite_bot?", False, "what about the flags, ?"),
        ("@CITE_BOT   why   did\nRoscosmos stop?", False, "why did Roscosmos stop?"),
        ("what about the flags?", True, "what about the flags?"),
        ("@cite_bot", False, ""),
        ("  @cite_bot  ", True, ""),
        ("@cite_bot @cite_bot twice?", False, "twice?"),
    ],
)
def test_group_messages_are_answered_only_when_addressed(
    text: str, replies_to_bot: bool, question: str | None
) -> None:
    assert group_question(text, BOT, replies_to_bot) == question


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("/ask why?", "why?"),
        ("/ask@cite_bot   why   now?", "why now?"),
        ("/ask\nwhat happened\nat Baikonur?", "what happened at Baikonur?"),
        ("/ask", ""),
        ("/ask@cite_bot", ""),
        ("/ask    ", ""),
    ],
)
def test_question_after_command(text: str, question: str) -> None:
    assert question_after_command(text) == question


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("why?", "why?"),
        ("  \n\t ", ""),
        ("@cite_bot", ""),
        ("@cite_bot who is Rogozin?", "who is Rogozin?"),
        ("🚀🛰️", "🚀🛰️"),
        ("ما هو روسكوزموس؟", "ما هو روسكوزموس؟"),
    ],
)
def test_private_text_is_the_question(text: str, question: str) -> None:
    assert private_question(text, BOT) == question


def test_empty_username_never_matches() -> None:
    assert not mentions_bot("@ hello", "")
