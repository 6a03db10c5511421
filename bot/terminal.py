"""The no-token mode: a terminal chat that shows exactly what the bot would reply.

It speaks the terminal's language (LANGUAGE, LC_ALL, LC_MESSAGES, LANG; bot/i18n.py), which
`citebot serve` reads from the environment and passes in.
"""

from __future__ import annotations

import sys
from typing import TextIO

from bot.addressing import private_question
from bot.config import AppConfig
from bot.formatting import notices
from bot.formatting.answers import format_reply
from bot.formatting.markup import to_plain
from bot.i18n import ENGLISH, Translator
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
    translator: Translator = ENGLISH,
) -> int:
    """Read questions line by line and print the bot's replies as plain text; 0 on EOF or quit.

    Answers go through the same service call and formatter as in Telegram, so the text matches.
    """
    bold = ANSI_BOLD if output.isatty() else ("**", "**")
    welcome = translator.gettext("Ask a question about the articles (quit or Ctrl-D to leave).")
    output.write(welcome + "\n")
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
            html = _reply_html(config, service, translator, line)
            output.write(to_plain(html, bold=bold, show_urls=True))
            output.write("\n\n")
    except KeyboardInterrupt:
        output.write("\n")
        return 0


def _reply_html(
    config: AppConfig, service: CitebotService, translator: Translator, line: str
) -> str:
    question = private_question(line, "")
    if not question:
        return translator.gettext(notices.EMPTY_QUESTION_HINT)
    if question.lower() in ("/sources", "sources"):
        return notices.sources_text(translator, service.sources())
    if question.lower() in ("/help", "help"):
        return notices.help_text(translator, "citebot_bot", service.question_languages())
    shown = config.answer.max_citations
    try:
        answer = service.answer(question, max_citations=shown + 1)
    except CitebotError as error:
        return notices.rejected_question(translator, str(error))
    return format_reply(translator, answer, shown)
