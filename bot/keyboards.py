"""The buttons under answers and article pages, and the short callback data they carry.

callback_data is `<action>:<answer id>:<argument>` (Telegram allows 64 bytes): `m:12:3` more
citations from the 4th, `a:12:0` open the article, `p:12:2` turn to page 3, `f:12:+` a vote.
Anything else a client sends back parses to None and is answered as expired. The admin's choice
about an upload that would replace an article is `u:<token>:r` (replace) or `u:<token>:k` (keep).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translator


class Action(enum.StrEnum):
    MORE = "m"
    ARTICLE = "a"
    PAGE = "p"
    VOTE = "f"


@dataclass(frozen=True)
class ButtonData:
    """What a pressed button asks for. `argument` is an offset, a page index or a ±1 vote."""

    action: Action
    answer_id: int
    argument: int

    def encode(self) -> str:
        if self.action is Action.VOTE:
            argument = "+" if self.argument > 0 else "-"
        else:
            argument = str(self.argument)
        return f"{self.action}:{self.answer_id}:{argument}"


_DATA = re.compile(r"([mapf]):([1-9][0-9]{0,17}):([0-9]{1,4}|[+-])")


def parse_button(data: object) -> ButtonData | None:
    """The button's request, or None for anything this bot did not make."""
    if not isinstance(data, str):
        return None
    match = _DATA.fullmatch(data)
    if match is None:
        return None
    action, answer_id, argument = Action(match[1]), int(match[2]), match[3]
    if (action is Action.VOTE) != (argument in ("+", "-")):
        return None
    value = (1 if argument == "+" else -1) if action is Action.VOTE else int(argument)
    return ButtonData(action, answer_id, value)


def _button(text: str, data: ButtonData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data.encode())


def answer_keyboard(
    translator: Translator, answer_id: int, more_from: int | None
) -> InlineKeyboardMarkup:
    """More (when there are further citations), Article, 👍 and 👎 under an answer."""
    # TRANSLATORS: the button that opens the article an answer quotes.
    article = translator.gettext("Article")
    first_row = [_button(article, ButtonData(Action.ARTICLE, answer_id, 0))]
    if more_from is not None:
        first_row.insert(0, _more_button(translator, answer_id, more_from))
    votes = [
        _button("👍", ButtonData(Action.VOTE, answer_id, 1)),
        _button("👎", ButtonData(Action.VOTE, answer_id, -1)),
    ]
    return InlineKeyboardMarkup([first_row, votes])


def more_keyboard(
    translator: Translator, answer_id: int, more_from: int | None
) -> InlineKeyboardMarkup | None:
    """The "More" button under a page of further citations, when there are still more."""
    if more_from is None:
        return None
    return InlineKeyboardMarkup([[_more_button(translator, answer_id, more_from)]])


def _more_button(translator: Translator, answer_id: int, more_from: int) -> InlineKeyboardButton:
    # TRANSLATORS: the button that shows further sources of an answer.
    return _button(translator.gettext("More"), ButtonData(Action.MORE, answer_id, more_from))


UPLOAD_CHOICE_PATTERN = r"^u:"
_UPLOAD_CHOICE = re.compile(r"u:([1-9][0-9]{0,17}):([rk])")


@dataclass(frozen=True)
class UploadChoice:
    """The admin's answer about an upload that would replace an article."""

    token: int
    replace: bool


def parse_upload_choice(data: object) -> UploadChoice | None:
    """The choice a "Replace it" / "Keep the old one" button carries, or None."""
    match = _UPLOAD_CHOICE.fullmatch(data) if isinstance(data, str) else None
    return UploadChoice(int(match[1]), match[2] == "r") if match else None


def replace_keyboard(translator: Translator, token: int) -> InlineKeyboardMarkup:
    """Replace it / Keep the old one, under the question about an upload's name."""
    # TRANSLATORS: replace the article file already in the corpus with the one just sent.
    replace = translator.gettext("Replace it")
    keep = translator.gettext("Keep the old one")
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(replace, callback_data=f"u:{token}:r"),
                InlineKeyboardButton(keep, callback_data=f"u:{token}:k"),
            ]
        ]
    )


def page_keyboard(answer_id: int, page: int, pages: int) -> InlineKeyboardMarkup | None:
    """◀ / ▶ under an article page (none for a one-page article)."""
    row = []
    if page > 0:
        row.append(_button("◀", ButtonData(Action.PAGE, answer_id, page - 1)))
    if page < pages - 1:
        row.append(_button("▶", ButtonData(Action.PAGE, answer_id, page + 1)))
    return InlineKeyboardMarkup([row]) if row else None
