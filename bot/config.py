"""Loads config.yaml plus CITEBOT_<SECTION>__<KEY> environment overrides into one frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from index.config import (
    AnswerConfig,
    CorpusConfig,
    DatabaseConfig,
    IndexConfig,
    PassageConfig,
    RetrievalConfig,
    Section,
)
from index.errors import ConfigError

ENV_PREFIX = "CITEBOT_"
CONFIG_ENV = "CITEBOT_CONFIG"
DEFAULT_CONFIG_FILE = Path("config.yaml")


class TelegramConfig(Section):
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    admins: tuple[Annotated[int, Field(gt=0)], ...] = ()  # Telegram user ids
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(8443, ge=1, le=65535)
    webhook_path: str = "telegram"
    poll_timeout: float = Field(10.0, ge=0)
    concurrent_updates: int = Field(16, ge=1, le=256)
    user_questions_per_minute: int = Field(12, ge=1)
    # Telegram lets a bot send about 20 messages a minute in one group; a group's questions
    # beyond what can be answered get one notice instead of a queue that keeps handlers waiting.
    group_questions_per_minute: int = Field(20, ge=1)
    # Telegram's flood limits are per bot token: about 30 messages a second in all, 20 a minute
    # in one group. With replicas (database.url set) they are counted across all of them.
    messages_per_second: int = Field(30, ge=1)
    group_messages_per_minute: int = Field(20, ge=1)
    max_upload_mb: float = Field(5.0, gt=0)
    more_citations: int = Field(3, ge=1, le=10)
    # "typing…" is shown when an answer takes longer than this (0: always). Telegram advises the
    # action only for replies that take noticeable time; below it the reply itself arrives first.
    typing_after_seconds: float = Field(0.3, ge=0, le=10)
    # Replicas (database.url set): an update a replica claimed is its own for this long, renewed
    # while it handles it; if the replica dies, another may handle the update once it runs out.
    update_lease_seconds: float = Field(30.0, ge=1, le=3600)


class AppConfig(BaseSettings):
    """Every setting citebot has. Secrets (the bot token) are never part of it."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    corpus: CorpusConfig = CorpusConfig()
    passages: PassageConfig = PassageConfig()
    index: IndexConfig = IndexConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    answer: AnswerConfig = AnswerConfig()
    telegram: TelegramConfig = TelegramConfig()
    database: DatabaseConfig = DatabaseConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file (passed in as init values).
        return (env_settings, init_settings)

    @property
    def feedback_db(self) -> Path:
        return self.index.path / "feedback.sqlite3"


def load_config(path: Path | str | None = None) -> AppConfig:
    """Read the config file (default: $CITEBOT_CONFIG or ./config.yaml; absent means defaults).

    Relative paths in the file are taken from the file's own directory, so the bot finds its
    corpus wherever it is started from. Raises ConfigError with one line naming the bad key.
    """
    explicit = path is not None or CONFIG_ENV in os.environ
    config_file = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)
    values: dict[str, Any] = {}
    if config_file.exists():
        values = _read_yaml(config_file)
        _anchor_paths(values, config_file.resolve().parent)
    elif explicit:
        raise ConfigError(f"config file {config_file} does not exist")
    _refuse_unknown_variables(os.environ)
    try:
        return AppConfig(**values)
    except ValidationError as error:
        raise ConfigError(f"{config_file}: {describe_validation_error(error)}") from error


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad key: `section.key: what is allowed (got value)`."""
    parts = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown setting"
        got = item.get("input")
        secret = key.startswith("database")  # a URL there may hold a password: never echoed
        shown = "" if isinstance(got, dict) or got is None or secret else f" (got {got!r})"
        parts.append(f"{key}: {message}{shown}")
    return "; ".join(parts)


def _refuse_unknown_variables(environment: Mapping[str, str]) -> None:
    """pydantic-settings ignores CITEBOT_ variables that name no section (CITEBOT_INDEX_PATH,
    CITEBOT_INDX__PATH), so a typo there would silently leave the setting as it was."""
    sections = set(AppConfig.model_fields)
    for name in sorted(environment):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        section, delimiter, key = name.removeprefix(ENV_PREFIX).lower().partition("__")
        if section not in sections or not delimiter or not key:
            raise ConfigError(
                f"environment variable {name}: unknown setting (settings are "
                f"{ENV_PREFIX}<SECTION>__<KEY> with a section of config.yaml, "
                f"e.g. {ENV_PREFIX}INDEX__PATH; the config file is {CONFIG_ENV})"
            )


def _read_yaml(config_file: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"{config_file}: cannot be read as YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{config_file}: the top level must be a mapping of sections")
    return data


def _anchor_paths(values: dict[str, Any], base: Path) -> None:
    for section, key in (("corpus", "path"), ("index", "path"), ("index", "model_cache")):
        part = values.get(section)
        # A blank path is left as it is, for validation to refuse (not the file's folder).
        if isinstance(part, dict) and isinstance(part.get(key), str) and part[key].strip():
            candidate = Path(part[key]).expanduser()
            part[key] = str(candidate if candidate.is_absolute() else base / candidate)
