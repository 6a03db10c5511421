"""Runs a build in a worker process (index/build_worker.py) and follows it from this thread.

`citebot serve` builds this way, so the process that answers never embeds: the worker holds the
build lock (a file lock, so `citebot index` and other processes still take turns with it),
reports progress as JSON lines, and publishes the build; the service then loads it in the
background and swaps it in (CitebotService.use_build). To the caller it looks like
`build_index`: progress callbacks, a BuildReport, or the same errors (BuildInProgressError,
BuildCancelledError, BuildError, naming a full disk as the build did).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from index.build_protocol import BuildJob, read_message
from index.errors import BuildCancelledError, BuildError, CitebotError
from index.models import BuildProgress, BuildReport
from index.service import CitebotService

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[BuildProgress], None]
# After being asked to stop, a worker has this long to finish its batch and say so; then it is
# killed. Its saved chunks are whole files either way (written, then renamed into place), and a
# stop must be done well within the 8 s bot/shutdown.py allows.
STOP_GRACE_SECONDS = 4.0
_CHECK_SECONDS = 0.1  # how often the watcher looks at the cancel event
# Where `index` is importable from, for the worker's interpreter (a source checkout included).
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def rebuild_in_worker(
    service: CitebotService,
    job: BuildJob,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> BuildReport:
    """Build in a worker process, then wait until `service` serves the published build (loaded
    on its loader's thread; questions meanwhile are answered from the index serving now)."""
    cancel = cancel or threading.Event()
    report = run_build_in_worker(job, progress, cancel)
    while not cancel.is_set():  # a stop does not wait for the load: the next start loads it
        try:
            service.use_build(report.build_id, timeout=_CHECK_SECONDS * 5)
            break
        except TimeoutError:
            continue
    return report


def run_build_in_worker(
    job: BuildJob,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> BuildReport:
    """Run `job` in a worker process until it ends. Setting `cancel` asks the worker to stop
    (it keeps what it embedded) and raises BuildCancelledError."""
    cancel = cancel or threading.Event()
    process = subprocess.Popen(
        [sys.executable, "-m", "index.build_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=_worker_environment(),
    )
    assert process.stdin is not None and process.stdout is not None
    logger.info("build worker %d started (full: %s)", process.pid, job.full)
    with contextlib.suppress(BrokenPipeError):  # it died at once: said below, from its outcome
        process.stdin.write(job.to_line())
        process.stdin.flush()
    finished = threading.Event()
    watcher = threading.Thread(
        target=_stop_when_cancelled, args=(process, cancel, finished), name="build-watcher"
    )
    watcher.start()
    try:
        outcome = _follow(process.stdout, progress or (lambda _progress: None))
    finally:
        finished.set()
        watcher.join()
        _close(process.stdin)  # a worker still building (this thread failed) stops
        code = _wait_or_kill(process)
        _close(process.stdout)
    if isinstance(outcome, BuildReport):
        logger.info("build worker %d published build %s", process.pid, outcome.build_id)
        return outcome
    if isinstance(outcome, CitebotError):
        raise outcome  # BuildCancelledError among them, when it stopped as asked
    if cancel.is_set():  # killed before it could say so
        raise BuildCancelledError(
            "the build was stopped; the passages it embedded are kept for the next build"
        )
    raise BuildError(
        f"the build worker ended without a report (exit code {code}; see the log): "
        "the previous index keeps serving"
    )


def _follow(stream: IO[bytes], progress: ProgressCallback) -> BuildReport | CitebotError | None:
    """Pass progress on until the worker's last line; returns its report or its error (None
    when it ended without one)."""
    for line in stream:
        try:
            message = read_message(line)
        except ValueError as error:
            logger.warning("ignoring a line from the build worker: %s", error)
            continue
        if message.progress is not None:
            progress(message.progress)
        elif message.report is not None or message.error is not None:
            return message.report or message.error
    return None


def _stop_when_cancelled(
    process: subprocess.Popen[bytes], cancel: threading.Event, finished: threading.Event
) -> None:
    """Once `cancel` is set: close the worker's input (its signal to stop), and kill it if it
    has not ended after STOP_GRACE_SECONDS."""
    while not finished.wait(_CHECK_SECONDS):
        if cancel.is_set():
            break
    else:
        return
    logger.info("asking build worker %d to stop", process.pid)
    _close(process.stdin)
    if not finished.wait(STOP_GRACE_SECONDS):
        logger.warning("build worker %d did not stop in %g s: killing it", process.pid,
                       STOP_GRACE_SECONDS)  # fmt: skip
        process.kill()


def _wait_or_kill(process: subprocess.Popen[bytes]) -> int:
    try:
        return process.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        logger.warning("build worker %d did not end: killing it", process.pid)
        process.kill()
        return process.wait()


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        with contextlib.suppress(OSError, ValueError):  # closed already, or the worker is gone
            stream.close()


def _worker_environment() -> dict[str, str]:
    """This process's environment (offline settings included), with `index` importable."""
    environment = dict(os.environ)
    paths = [str(_PACKAGE_ROOT), environment.get("PYTHONPATH", "")]
    environment["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    return environment
