"""Button callback data: short, parsed strictly, and anything forged comes back as None."""

from __future__ import annotations

import pytest

from bot.i18n import ENGLISH
from bot.keyboards import (
    Action,
    ButtonData,
    answer_keyboard,
    page_keyboard,
    parse_button,
)


@pytest.mark.parametrize(
    "data",
    [
        ButtonData(Action.MORE, 1, 3),
        ButtonData(Action.ARTICLE, 99, 0),
        ButtonData(Action.PAGE, 123456789012, 7),
        ButtonData(Action.VOTE, 5, 1),
        ButtonData(Action.VOTE, 5, -1),
    ],
)
def test_button_data_round_trips_within_64_bytes(data: ButtonData) -> None:
    encoded = data.encode()
    assert len(encoded.encode()) <= 64
    assert parse_button(encoded) == data


@pytest.mark.parametrize(
    "forged",
    [
        None,
        "",
        "m:1",
        "m:0:3",
        "m:-1:3",
        "x:1:1",
        "f:1:3",
        "m:1:+",
        "a:1:../../etc/passwd",
        "a:../../etc:0",
        "m:1:3:extra",
        "m:01:3",
        "m:1:99999",
        "m:1234567890123456789012:1",
        " m:1:3",
        "m:1:3\n",
        b"m:1:3",
        123,
    ],
)
def test_forged_data_is_refused(forged: object) -> None:
    assert parse_button(forged) is None


def test_answer_keyboard_has_more_only_when_there_are_more() -> None:
    with_more = answer_keyboard(ENGLISH, 7, 3).inline_keyboard
    without = answer_keyboard(ENGLISH, 7, None).inline_keyboard
    assert [b.text for b in with_more[0]] == ["More", "Article"]
    assert [b.text for b in without[0]] == ["Article"]
    assert [b.callback_data for b in with_more[1]] == ["f:7:+", "f:7:-"]


@pytest.mark.parametrize(
    ("page", "pages", "labels"),
    [(0, 1, None), (0, 3, ["▶"]), (1, 3, ["◀", "▶"]), (2, 3, ["◀"])],
)
def test_page_keyboard(page: int, pages: int, labels: list[str] | None) -> None:
    keyboard = page_keyboard(4, page, pages)
    if labels is None:
        assert keyboard is None
    else:
        assert keyboard is not None
        assert [b.text for b in keyboard.inline_keyboard[0]] == labels
