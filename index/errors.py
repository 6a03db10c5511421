"""citebot's exceptions. Each carries a message fit to show a user as it is.

CitebotError
├── ConfigError            a setting is missing or invalid (names the key)
├── IndexNotFoundError     no index built yet: run `citebot index`
├── IndexMismatchError     the index on disk does not fit (other model, damaged, old format)
├── BuildInProgressError   another build holds the lock
├── BuildCancelledError    a build was stopped on request (the vectors it saved are kept)
├── BuildError             a build failed; the previous index keeps serving
├── DatabaseUnavailableError  database.url cannot be reached (the password is never shown)
└── SchemaMismatchError    the database holds another citebot version's tables: citebot migrate
"""

from __future__ import annotations


class CitebotError(Exception):
    """Base of every error citebot expects and explains."""


class ConfigError(CitebotError):
    pass


class IndexNotFoundError(CitebotError):
    pass


class IndexMismatchError(CitebotError):
    pass


class BuildInProgressError(CitebotError):
    pass


class BuildCancelledError(CitebotError):
    pass


class BuildError(CitebotError):
    pass


class DatabaseUnavailableError(CitebotError):
    pass


class SchemaMismatchError(CitebotError):
    pass
