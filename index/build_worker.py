"""The build worker: `python -m index.build_worker` builds the index for a serving process.

`citebot serve` runs each /reindex here, in a process of its own (index/build_process.py), so
embedding never competes with answering for the interpreter lock, and at a lower priority, so
answering gets the cores first. The job comes as one line on standard input; progress and the
outcome go out on standard output as JSON lines (index/build_protocol.py); log lines go to
standard error, which the worker shares with the process that started it.

It stops as `build_index` stops on request (after the batch it is embedding, keeping the chunks
it saved for the next build) when its standard input closes (the serving process asks it to
stop, or has gone) or on SIGTERM or SIGINT (a service manager stopping the whole group).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
import time
from typing import BinaryIO, NoReturn

from index.build_protocol import BuildJob, error_line, progress_line, report_line
from index.embedder import Embedder
from index.errors import CitebotError
from index.models import BuildProgress
from index.stores import open_store

logger = logging.getLogger("citebot.build_worker")

# Answering first: on a small machine the build takes what the answers leave of the cores.
NICENESS = 10
# Progress lines at most this often (a new stage always goes out at once): a corpus of many
# small files would otherwise send a line per file.
PROGRESS_INTERVAL_SECONDS = 0.25


class _Outbox:
    """The protocol's own copy of standard output, one whole line per write."""

    def __init__(self, stream: BinaryIO, cancel: threading.Event) -> None:
        self._stream = stream
        self._cancel = cancel
        self._lock = threading.Lock()
        self._sent_at = 0.0
        self._stage = ""

    def send(self, line: bytes) -> None:
        with self._lock:
            try:
                self._stream.write(line)
                self._stream.flush()
            except BrokenPipeError:
                self._cancel.set()  # nobody reads the outcome any more: stop building

    def progress(self, progress: BuildProgress) -> None:
        now = time.monotonic()
        if progress.stage == self._stage and now - self._sent_at < PROGRESS_INTERVAL_SECONDS:
            return
        self._stage, self._sent_at = progress.stage, now
        self.send(progress_line(progress))


def main() -> int:
    outbox_stream = _protocol_stream()
    line = sys.stdin.buffer.readline()
    if not line:
        return 0  # whoever started it went away before asking for anything
    job = BuildJob.from_line(line)
    _setup_logging(job.log_level)
    cancel = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda _number, _frame: cancel.set())
    threading.Thread(target=_cancel_at_end_of_input, args=(cancel,), daemon=True).start()
    os.nice(NICENESS)
    outbox = _Outbox(outbox_stream, cancel)
    embedder = functools.cache(lambda: Embedder(job.index))
    logger.info("build worker %d: building %s", os.getpid(), job.index.path)
    try:
        store = open_store(job.index, job.passages, job.database)
        report = store.build(
            job.corpus, job.passages, embedder, outbox.progress, job.full, cancel, False
        )
    except CitebotError as error:
        outbox.send(error_line(error))
    else:
        outbox.send(report_line(report))
    return 0


def exit_at_once(code: int) -> NoReturn:
    """End without the interpreter's teardown: the build is written, published and said, and
    unloading the model runtimes took over 4 s on a busy machine, holding up the reindex."""
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


def _protocol_stream() -> BinaryIO:
    """Standard output for protocol lines alone: file descriptor 1 goes to standard error from
    here on, so a library that prints cannot break a line."""
    sys.stdout.flush()
    private = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(private, "wb")


def _cancel_at_end_of_input(cancel: threading.Event) -> None:
    # Raw reads: a thread blocked inside sys.stdin's buffered reader holds its lock, which the
    # interpreter's shutdown would then wait for in vain.
    while os.read(0, 4096):
        pass  # nothing more is sent: only the end of input (closed on purpose, or its writer gone)
    cancel.set()


def _setup_logging(level: int) -> None:
    """As `citebot` logs (bot/cli.py): the worker's lines read like the bot's own."""
    level = level or logging.WARNING  # a parent whose root logger was never set up
    logging.basicConfig(
        level=level,
        format="%(levelname)s %(name)s: %(message)s" if level < logging.WARNING
        else "citebot: %(message)s",
        stream=sys.stderr,
    )  # fmt: skip
    for noisy in ("httpx", "bm25s", "sentence_transformers", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


if __name__ == "__main__":
    exit_at_once(main())
