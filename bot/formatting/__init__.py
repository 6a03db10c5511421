"""The one place that makes Telegram HTML; every dynamic value is escaped here, within limits.

`answers` renders answers, citations, article pages and inline results; `builds` the admin's
reindex progress, reports and uploads; `notices` every other message; `markup` holds the
primitives (escaping, UTF-16 lengths, trimming, plain rendering). Each takes the reader's
Translator (bot/i18n.py) for the bot's own words.
"""
