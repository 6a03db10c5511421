"""`citebot migrate [--to-database]`: the database store's schema and the copy of a local index
into it (index/pg_migrate.py). Both need database.url."""

from __future__ import annotations

import argparse
from typing import Any

from bot.config import AppConfig
from index.errors import ConfigError
from index.service import CitebotService


def add_migrate_command(commands: Any) -> None:
    """Register `migrate` on the CLI's subcommands."""
    migrate = commands.add_parser(
        "migrate",
        help="bring the database's tables (the index's and the bot's) to this version "
        "(database.url), or copy the local "
        "index into the database with --to-database",
    )
    migrate.add_argument(
        "--to-database",
        action="store_true",
        help="copy the published local index (index.path) into database.url without embedding",
    )
    migrate.set_defaults(handler=run_migrate)


def run_migrate(args: argparse.Namespace, config: AppConfig, service: CitebotService) -> int:
    if config.database.url is None:
        raise ConfigError(
            "database.url is not set: `citebot migrate` works on the database "
            "(set it in config.yaml or CITEBOT_DATABASE__URL)"
        )
    from index.pg_migrate import copy_local_index, migrate_schema
    from index.retriever import LoadedIndex

    if not args.to_database:
        from bot.shared_pg import migrate_bot_schema

        print(f"citebot: {migrate_schema(config.database, config.index)}")
        print(f"citebot: {migrate_bot_schema(config)}")
        return 0
    local = LoadedIndex.open_current(config.index, verify_checksums=True)
    report = copy_local_index(local, config.index, config.database)
    print(
        f"citebot: copied build {report.build_id} ({report.articles} articles, "
        f"{report.passages} passages) into {config.database.masked_url} in {report.seconds} s, "
        "without embedding"
    )
    return 0
