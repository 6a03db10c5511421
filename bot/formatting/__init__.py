"""The one place that makes Telegram HTML; every dynamic value is escaped here, within limits.

`answers` renders answers, citations, article pages and inline results; `notices` every other
message; `markup` holds the primitives (escaping, UTF-16 lengths, trimming, plain rendering).
"""
