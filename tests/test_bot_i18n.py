"""The bot's languages: which one a user gets, and catalogs that are complete, compiled and safe.

The catalog checks extract the marked messages from bot/ in memory with Babel, as
`pybabel extract` does, so a message marked in the code but missing from the template (or a
.mo not compiled after its .po changed) fails here rather than showing English to a reader.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.formatting import builds, notices
from bot.formatting.answers import NOT_FOUND
from bot.formatting.notices import articles_count, passages_count
from bot.i18n import (
    DOMAIN,
    LOCALE_DIR,
    primary_language,
    supported_languages,
    translator_for,
    translator_from_environment,
)
from bot.stats import StatsSnapshot
from index.models import BuildProgress, BuildReport
from index.service import IndexInfo
from tests.test_bot_formatting import telegram_text

BOT_DIR = Path(__file__).resolve().parent.parent / "bot"
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
CATALOGS = sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
TAG = re.compile(r"</?[a-z]+>")
PLACEHOLDER = re.compile(r"\{(\w*)\}")

MessageId = str | tuple[str, ...]


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as stream:
        return read_po(stream)


def ids(catalog: Catalog) -> set[MessageId]:
    return {message.id for message in catalog if message.id}


def marked_in_code() -> set[MessageId]:
    """What `pybabel extract ... bot` finds today (Babel's default keywords: _, gettext,
    ngettext, N_ and the rest)."""
    return {message for _, _, message, _, _ in extract_from_dir(str(BOT_DIR))}


@pytest.mark.parametrize(
    ("language_code", "language"),
    [
        ("ru", "ru"),
        ("ru-RU", "ru"),
        ("RU", "ru"),
        ("ru_RU", "ru"),
        ("en", "en"),
        ("en-GB", "en"),
        ("tlh", "en"),
        ("xx", "en"),
        ("", "en"),
        (None, "en"),
        ("-", "en"),
        ("rus", "en"),
    ],
)
def test_a_telegram_language_code_picks_a_supported_language_or_english(
    language_code: str | None, language: str
) -> None:
    assert translator_for(language_code).language == language


@pytest.mark.parametrize(
    ("environment", "language"),
    [
        ({}, "en"),
        ({"LANG": "ru_RU.UTF-8"}, "ru"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LC_ALL": "POSIX", "LANG": "ru_RU.UTF-8"}, "en"),
        ({"LC_MESSAGES": "ru_RU@euro", "LANG": "en_US.UTF-8"}, "ru"),
        ({"LANGUAGE": "de:ru", "LANG": "en_US.UTF-8"}, "ru"),
        ({"LANGUAGE": "en:ru", "LANG": "ru_RU.UTF-8"}, "en"),
        ({"LANGUAGE": "", "LC_ALL": "ru_RU.UTF-8"}, "ru"),
        ({"LANGUAGE": "de", "LANG": "ru_RU.UTF-8"}, "en"),
    ],
)
def test_the_terminal_takes_its_language_from_the_environment_as_gettext_does(
    environment: dict[str, str], language: str
) -> None:
    assert translator_from_environment(environment).language == language


@pytest.mark.parametrize(
    ("tag", "primary"),
    [("ru-RU", "ru"), ("pt_BR.UTF-8", "pt"), ("sr@latin", "sr"), ("EN", "en"), (None, None)],
)
def test_primary_language(tag: str | None, primary: str | None) -> None:
    assert primary_language(tag) == primary


def test_english_and_russian_are_supported() -> None:
    assert supported_languages()[0] == "en"
    assert "ru" in supported_languages()


@pytest.mark.parametrize(
    ("count", "articles", "passages"),
    [
        (1, "1 статья", "1 фрагмент"),
        (2, "2 статьи", "2 фрагмента"),
        (4, "4 статьи", "4 фрагмента"),
        (5, "5 статей", "5 фрагментов"),
        (11, "11 статей", "11 фрагментов"),
        (12, "12 статей", "12 фрагментов"),
        (21, "21 статья", "21 фрагмент"),
        (22, "22 статьи", "22 фрагмента"),
        (111, "111 статей", "111 фрагментов"),
        (0, "0 статей", "0 фрагментов"),
    ],
)
def test_russian_counts_take_the_plural_form_the_number_needs(
    count: int, articles: str, passages: str
) -> None:
    russian = translator_for("ru")
    assert articles_count(russian, count) == articles
    assert passages_count(russian, count) == passages


@pytest.mark.parametrize(
    ("language_code", "codes", "named"),
    [
        ("en", ("en",), "English"),
        ("en", ("en", "ru", "de"), "English, Russian, and German"),
        ("ru-RU", ("en", "ru", "de"), "английский, русский и немецкий"),
        ("ru", ("zh", "ar"), "китайский и арабский"),
        ("ru", ("en", "not-a-language"), "английский и not-a-language"),
    ],
)
def test_languages_are_named_in_the_readers_language(
    language_code: str, codes: tuple[str, ...], named: str
) -> None:
    assert translator_for(language_code).language_names(codes) == named


def test_the_template_holds_exactly_the_messages_marked_in_the_code() -> None:
    template = ids(read_catalog(TEMPLATE))
    marked = marked_in_code()
    assert marked - template == set(), "marked but not in the .pot: run pybabel extract"
    assert template - marked == set(), "in the .pot but no longer marked: run pybabel extract"


@pytest.mark.parametrize("po_path", CATALOGS, ids=lambda p: p.parent.parent.name)
def test_each_catalog_translates_every_message(po_path: Path) -> None:
    catalog = read_catalog(po_path)
    assert ids(catalog) == ids(read_catalog(TEMPLATE)), "run pybabel update"
    assert not catalog.obsolete
    for message in catalog:
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.pluralizable:
            assert len(forms) == catalog.num_plurals, message.id
        assert all(form.strip() for form in forms), f"untranslated: {message.id!r}"


@pytest.mark.parametrize("po_path", CATALOGS, ids=lambda p: p.parent.parent.name)
def test_each_compiled_catalog_is_up_to_date(po_path: Path) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog(po_path))
    assert po_path.with_suffix(".mo").read_bytes() == compiled.getvalue(), "run pybabel compile"


@pytest.mark.parametrize("po_path", CATALOGS, ids=lambda p: p.parent.parent.name)
def test_translations_keep_the_html_tags_and_placeholders(po_path: Path) -> None:
    """A translation sits in Telegram HTML as it is: it may not add or lose a tag, a `<`, `>`
    or `&`, or a {placeholder} that .format() fills."""
    for message in read_catalog(po_path):
        if not message.id:
            continue
        originals = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = _shape(originals[-1])
        for form in forms:
            assert _shape(form) == expected, (message.id, form)


def _shape(text: str) -> tuple[list[str], set[str], tuple[int, int, int]]:
    specials = (text.count("<"), text.count(">"), text.count("&"))
    return TAG.findall(text), set(PLACEHOLDER.findall(text)), specials


NOTICE_CONSTANTS = [
    notices.NON_TEXT_HINT,
    notices.EMPTY_QUESTION_HINT,
    notices.UNKNOWN_COMMAND,
    notices.RATE_LIMITED,
    notices.GROUP_RATE_LIMITED,
    notices.NOT_ADMIN,
    notices.UPLOAD_NOT_ADMIN,
    notices.ALREADY_RUNNING,
    notices.ALREADY_RUNNING_UPLOAD,
    notices.SOMETHING_WRONG,
    NOT_FOUND,
]


@pytest.mark.parametrize("language", supported_languages())
def test_every_notice_renders_in_every_language(language: str) -> None:
    translator = translator_for(language)
    snapshot = StatsSnapshot(questions=10, not_found=3, p50_ms=120.0, p95_ms=300.0)
    info = IndexInfo("b<1>", "2026-01-01T00:00:00+00:00", 2.5, 5, 19, "m", "flat", 123456)
    report = BuildReport(
        "b1", 6, 25, 6, files_added=("new <file>.md",) * 300, skipped=("x: bad & ugly",)
    )
    languages = ("en", "ru", "de", "zh", "ar")
    for html in (
        notices.help_text(translator, "cite_bot", languages),
        notices.start_text(translator, "cite_bot", ("en",)),
        notices.ask_usage(translator, "cite_bot", languages),
        notices.group_greeting(translator),
        notices.rejected_question(translator, "no index at <dir> yet & so on"),
        notices.sources_text(translator, []),
        notices.stats_text(translator, snapshot, (4, 1), info),
        notices.stats_text(translator, snapshot, (0, 0), None),
        builds.progress_text(translator, None),
        builds.progress_text(translator, BuildProgress("loading model")),
        builds.report_text(translator, report),
        builds.build_failed_text(translator, "<boom> & " * 500),
        builds.upload_rejected(translator, "bad <name>"),
        builds.upload_saved(translator, "a&b.md", 1234),
        *(translator.gettext(message) for message in NOTICE_CONSTANTS),
    ):
        telegram_text(html)
