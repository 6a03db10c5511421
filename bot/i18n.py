"""The user's language: a Translator for a Telegram user or the terminal, English when in doubt.

The bot's own texts are English message ids in the code, marked for the catalog with `gettext`,
`ngettext` or `N_`; `bot/locale/` holds the compiled catalogs (README: "Using it in Telegram").
Every formatting function takes a Translator explicitly: there is no "current language".
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.lists import format_list
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from telegram import Update, User

DOMAIN = "citebot"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SOURCE_LANGUAGE = "en"  # the message ids are English: it needs no catalog
# Where the terminal finds the user's language, in gettext's own order of precedence.
LANGUAGE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def N_(message: str) -> str:
    """Marks a message for the catalog where it is defined (gettext's name for this, which
    extraction knows); it is translated where it is used."""
    return message


@dataclass(frozen=True)
class Translator:
    """The bot's texts in one language, and Babel's names and numbers in that language."""

    language: str  # a primary language subtag: "en", "ru"
    translations: gettext.NullTranslations

    @functools.cached_property
    def locale(self) -> Locale:
        return Locale.parse(self.language)

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        """The form for `count` (Russian has three); the caller fills in the number."""
        return self.translations.ngettext(singular, plural, count)

    def decimal(self, value: float, digits: int = 1) -> str:
        """A number with `digits` decimals as this language writes it (2.5, 2,5)."""
        pattern = "#,##0." + "0" * digits if digits else "#,##0"
        return format_decimal(value, format=pattern, locale=self.locale)

    def language_names(self, codes: Iterable[str]) -> str:
        """Languages named in this language and listed: "English, Russian, and German"."""
        names = [self._language_name(code) for code in codes]
        return format_list(names, locale=self.locale) if names else ""

    def _language_name(self, code: str) -> str:
        try:
            name = Locale.parse(code).get_display_name(self.locale)
        except (ValueError, UnknownLocaleError):
            name = None
        return name or code


@functools.cache
def supported_languages() -> tuple[str, ...]:
    """English, then every language with a compiled catalog under bot/locale/."""
    compiled = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return (SOURCE_LANGUAGE, *(code for code in compiled if code != SOURCE_LANGUAGE))


def primary_language(tag: str | None) -> str | None:
    """The primary subtag of a language tag or POSIX locale: "ru-RU", "ru_RU.UTF-8" → "ru"."""
    if not tag:
        return None
    primary = tag.split(".")[0].split("@")[0].replace("_", "-").split("-")[0].strip().lower()
    return primary or None


def supported_language(tag: str | None) -> str:
    """The supported language a tag asks for, or English."""
    primary = primary_language(tag)
    return primary if primary in supported_languages() else SOURCE_LANGUAGE


def translator_for(tag: str | None) -> Translator:
    """The Translator for a language tag such as Telegram's `language_code` (None: English)."""
    return _load_translator(supported_language(tag))


@functools.cache  # keyed by supported language, so it holds one Translator per catalog
def _load_translator(language: str) -> Translator:
    if language == SOURCE_LANGUAGE:
        return Translator(language, NullTranslations())
    return Translator(language, Translations.load(LOCALE_DIR, [language], DOMAIN))


def translator_for_user(user: User | None) -> Translator:
    """The language of a Telegram user (English for none, or one the bot does not speak)."""
    return translator_for(user.language_code if user else None)


def translator_for_update(update: object) -> Translator:
    """The language of whoever sent the update: in a group, the user who asked."""
    user = update.effective_user if isinstance(update, Update) else None
    return translator_for_user(user)


def translator_from_environment(environment: Mapping[str, str]) -> Translator:
    """The terminal's language, read as gettext does: the first of LANGUAGE, LC_ALL,
    LC_MESSAGES and LANG that is set; LANGUAGE may list several ("ru:en") in order of
    preference. "C", "POSIX" or a language without a catalog mean English."""
    for variable in LANGUAGE_VARIABLES:
        value = environment.get(variable, "")
        if not value:
            continue
        for tag in value.split(":"):
            if primary_language(tag) in supported_languages():
                return translator_for(tag)
        break
    return translator_for(None)


ENGLISH = translator_for(None)
