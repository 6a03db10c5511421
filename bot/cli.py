"""The `citebot` command: index, ask, sources, serve, migrate.

Standard output carries results only (with --json, nothing but JSON lines); progress bars,
warnings and notices go to standard error. Exit codes: 0 done, 1 unexpected failure,
2 bad usage or config, 3 no usable index (or database tables of another version),
4 a build failed or another build is running, 5 database.url cannot be reached,
141 the reader of standard output went away (`citebot ask … | head`), as SIGPIPE would end it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence

from tqdm.contrib.logging import logging_redirect_tqdm

from bot.config import AppConfig, load_config
from bot.memory import map_large_blocks_separately
from bot.migrate_command import add_migrate_command
from bot.progress_bar import ProgressBar
from bot.terminal_text import render_answer, render_build_report, render_sources
from bot.webhook_cli import add_webhook_command
from index.errors import (
    BuildError,
    BuildInProgressError,
    CitebotError,
    ConfigError,
    DatabaseUnavailableError,
    IndexMismatchError,
    IndexNotFoundError,
    SchemaMismatchError,
)
from index.service import CitebotService

logger = logging.getLogger("citebot")

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"
EXIT_READER_GONE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head`
EXIT_CODES: list[tuple[type[CitebotError], int]] = [
    (ConfigError, 2),
    (IndexNotFoundError, 3),
    (IndexMismatchError, 3),
    (BuildInProgressError, 4),
    (BuildError, 4),
    (SchemaMismatchError, 3),
    (DatabaseUnavailableError, 5),
]


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_third_party_output()
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        config = load_config(args.config)
        service = CitebotService.from_config(config)
        return int(args.handler(args, config, service))
    except CitebotError as error:
        print(f"citebot: {error}", file=sys.stderr)
        return next((code for kind, code in EXIT_CODES if isinstance(error, kind)), 1)
    except KeyboardInterrupt:
        print("citebot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Whoever read standard output is gone (`citebot ask … | head`): stop quietly. Python
        # would complain once more when it flushes standard output at exit, so that goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_READER_GONE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="citebot", description="Answers questions about news articles with cited quotes."
    )
    parser.add_argument("--config", help="config file (default: $CITEBOT_CONFIG or ./config.yaml)")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more detail to stderr (-vv: debug)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser("index", help="build or update the index of the corpus")
    index.add_argument("--full", action="store_true", help="re-embed everything")
    index.set_defaults(handler=run_index)

    ask = commands.add_parser("ask", help="answer a question with cited passages")
    ask.add_argument("question", help='the question, or "-" to read one question per line')
    ask.add_argument("--json", action="store_true", help="print one JSON object per answer")
    ask.set_defaults(handler=run_ask)

    sources = commands.add_parser("sources", help="list the indexed articles")
    sources.add_argument("--json", action="store_true", help="print a JSON array")
    sources.set_defaults(handler=run_sources)

    serve = commands.add_parser(
        "serve", help=f"run the Telegram bot (${TOKEN_ENV}); without a token, a terminal chat"
    )
    serve.set_defaults(handler=run_serve)
    add_migrate_command(commands)
    add_webhook_command(commands)
    return parser


def run_index(args: argparse.Namespace, config: AppConfig, service: CitebotService) -> int:
    report = _build(service, full=args.full, serve=False)
    print(render_build_report(report))
    return 0


def run_ask(args: argparse.Namespace, config: AppConfig, service: CitebotService) -> int:
    _ensure_index(service, rebuild_if_damaged=False)
    if args.question == "-":
        questions = _read_questions(sys.stdin.buffer)
    else:
        questions = iter([_decode(os.fsencode(args.question), "the question")])
    for question in questions:
        answer = service.answer(question)
        if args.json:
            print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
        else:
            print(render_answer(answer, color=sys.stdout.isatty()), flush=True)
    return 0


def run_sources(args: argparse.Namespace, config: AppConfig, service: CitebotService) -> int:
    _ensure_index(service, rebuild_if_damaged=False)
    sources = service.sources()
    if args.json:
        print(json.dumps([vars(s) for s in sources], ensure_ascii=False, indent=1))
    else:
        print(render_sources(sources))
    return 0


def run_serve(args: argparse.Namespace, config: AppConfig, service: CitebotService) -> int:
    map_large_blocks_separately()  # before any build: it serves for weeks and reindexes
    # A bot should come up: a damaged index is rebuilt from the corpus (said on stderr).
    _ensure_index(service, rebuild_if_damaged=True)
    # Its builds run in a worker process, so nothing else loads the models here: one question
    # now loads them, rather than the first user's.
    service.answer("warm up")
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        from bot.i18n import translator_from_environment
        from bot.terminal import run_terminal_chat

        print(
            f"citebot: no {TOKEN_ENV} set, so this is a terminal chat that shows what the bot "
            "would reply. Set the token to serve Telegram.",
            file=sys.stderr,
        )
        translator = translator_from_environment(os.environ)
        return run_terminal_chat(config, service, translator=translator)
    from bot.app import run_bot

    return run_bot(config, service, token)


def _ensure_index(service: CitebotService, rebuild_if_damaged: bool) -> None:
    """Load the index; build it first when there is none yet (and say so)."""
    try:
        service.load()
        return
    except IndexNotFoundError:
        print("citebot: no index yet, building it first…", file=sys.stderr)
    except IndexMismatchError as error:
        if not rebuild_if_damaged:
            raise
        print(f"citebot: {error}; rebuilding it now…", file=sys.stderr)
        _build_after_any_other(service, full=True)
        return
    _build_after_any_other(service, full=False)


def _build_after_any_other(service: CitebotService, full: bool) -> None:
    """Build; if another build (a first `citebot ask` too) is running, wait for it to end, then
    bring its result up to date, which is quick when it succeeded."""
    try:
        _build(service, full)
    except BuildInProgressError:
        print(
            "citebot: another build of this index is running; waiting for it to finish…",
            file=sys.stderr,
        )
        _build(service, full=False, wait=True)


def _build(service: CitebotService, full: bool, wait: bool = False, serve: bool = True):  # type: ignore[no-untyped-def]
    # Warnings (a skipped file) go out between redraws of the bar, each on a line of its own.
    with ProgressBar(sys.stderr) as bar, logging_redirect_tqdm():
        report = service.rebuild(progress=bar.update, full=full, wait=wait, serve=serve)
    for line in report.skipped:
        logger.debug("skipped %s", line)
    return report


def _read_questions(stream: Iterable[bytes]) -> Iterator[str]:
    """One question per line, answered as it arrives (the model is loaded once)."""
    for number, line in enumerate(stream, start=1):
        question = _decode(line, f"line {number}").strip()
        if question:
            yield question


def _decode(raw: bytes, what: str) -> str:
    """UTF-8 text; undecodable bytes are replaced (and said so), so the question is still
    answered and a batch goes on."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        logger.warning("%s is not valid UTF-8; its undecodable bytes were replaced", what)
        return raw.decode("utf-8", "replace")


def _setup_logging(verbose: int) -> None:
    levels = (logging.WARNING, logging.INFO, logging.DEBUG)
    logging.basicConfig(
        level=levels[min(verbose, len(levels) - 1)],
        format="%(levelname)s %(name)s: %(message)s" if verbose else "citebot: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "bm25s", "sentence_transformers", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The pool's retries while it connects: an unreachable database is then one error line.
    logging.getLogger("psycopg.pool").setLevel(logging.WARNING if verbose else logging.ERROR)


def _quiet_third_party_output() -> None:
    """Offline by design, and no library chatter on stdout."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


if __name__ == "__main__":
    sys.exit(main())
