"""The no-token mode: a terminal chat that shows exactly what the bot would reply."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.addressing import private_question
from bot.config import AppConfig
from bot.formatting import notices
from bot.formatting.answers import format_reply
from bot.formatting.markup import to_plain
from index.errors import CitebotError
from index.service import CitebotService

PROMPT = "citebot> "
ANSI_BOLD = ("\033[1m", "\033[0m")
QUIT_WORDS = {"quit", "exit", "/quit", "/exit"}


def run_terminal_chat(
    config: AppConfig,
    service: CitebotService,
    input: TextIO = sys.stdin,
    output: TextIO = sys.stdout,
) -> int:
    """Read questions line by line and print the bot's replies as plain text; 0 on EOF or quit.

    Answers go through the same service call and formatter as in Telegram, so the text matches.
    """
    bold = ANSI_BOLD if output.isatty() else ("**", "**")
    output.write("Ask a question about the articles (quit or Ctrl-D to leave).\n")
    try:
        while True:
            output.write(PROMPT)
            output.flush()
            line = input.readline()
            if not line:
                output.write("\n")
                return 0
            if line.strip().lower() in QUIT_WORDS:
                return 0
            output.write(to_plain(_reply_html(config, service, line), bold=bold, show_urls=True))
            output.write("\n\n")
    except KeyboardInterrupt:
        output.write("\n")
        return 0


def _reply_html(config: AppConfig, service: CitebotService, line: str) -> str:
    question = private_question(line, "")
    if not question:
        return notices.EMPTY_QUESTION_HINT
    if question.lower() in ("/sources", "sources"):
        return notices.sources_text(service.sources())
    if question.lower() in ("/help", "help"):
        return notices.help_text("citebot_bot")
    shown = config.answer.max_citations
    try:
        answer = service.answer(question, max_citations=shown + 1)
    except CitebotError as error:
        return notices.rejected_question(str(error))
    return format_reply(answer, shown)
