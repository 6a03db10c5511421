"""Loads newly published builds on a thread of their own, so answering never waits for one.

Loading a build reads every file and checks its sha256 (about 8 s at 1M passages). Questions
asked meanwhile are answered from the index that is serving; the new one is handed over when it
is ready. A build that cannot be loaded (damaged, or built with other models) is logged once and
not tried again, and the index that was serving goes on serving.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from index.errors import CitebotError, IndexMismatchError

logger = logging.getLogger(__name__)

Loaded = TypeVar("Loaded")
T = TypeVar("T")
# While a load runs, the interpreter lock changes hands this often (5 ms by default): the
# answering thread, which lets go of the lock at every model or faiss call, then waits at most
# this long each time to get it back from the loader (bench/reload_latency.py).
LOAD_SWITCH_INTERVAL_SECONDS = 0.0005
# Work that reads every byte of a build (checksums) runs at this lower priority: answering first.
LOW_PRIORITY_NICENESS = 10
# A bot reindexes a few times a day: the outcomes of this many builds are remembered (a failed
# build is never retried), more would only grow for weeks.
REMEMBERED_OUTCOMES = 32


# A published build as its store names it: a build folder (local files) or a build id (database).
Build = Path | str


def _name(build: Build) -> str:
    return build.name if isinstance(build, Path) else build


class BackgroundLoader(Generic[Loaded]):
    """Loads one build at a time with `load` and hands each to `swap_in`, newest request last.

    `request` never blocks; `wait_for` blocks until a given build is serving (or has failed).
    """

    def __init__(self, load: Callable[[Any], Loaded], swap_in: Callable[[Loaded], None]) -> None:
        self._load = load
        self._swap_in = swap_in
        self._changed = threading.Condition()
        self._wanted: Build | None = None  # the newest build asked for, not started yet
        self._loading: Build | None = None
        self._thread: threading.Thread | None = None
        # build directory -> None once swapped in, or the error that kept it out
        self._outcomes: dict[Build, CitebotError | None] = {}

    @property
    def loading(self) -> Build | None:
        """The build being loaded now, if any."""
        return self._loading

    def request(self, build_dir: Build) -> None:
        """Load `build_dir` in the background, unless it is loading already or failed before."""
        with self._changed:
            if build_dir in (self._loading, self._wanted) or self._failed(build_dir):
                return
            self._wanted = build_dir
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="index-loader", daemon=True)
                self._thread.start()

    def wait_for(self, build_dir: Build, timeout: float | None = None) -> None:
        """Load `build_dir` unless asked already, and wait until it is swapped in.

        Raises the CitebotError that kept it out (IndexMismatchError for a damaged build), or
        TimeoutError.
        """
        self.request(build_dir)
        with self._changed:
            if not self._changed.wait_for(lambda: build_dir in self._outcomes, timeout):
                raise TimeoutError(f"build {_name(build_dir)} was not loaded in {timeout} s")
            error = self._outcomes[build_dir]
        if error is not None:
            raise error

    def _failed(self, build_dir: Build) -> bool:
        return self._outcomes.get(build_dir) is not None

    def _run(self) -> None:
        while True:
            with self._changed:
                target, self._wanted = self._wanted, None
                self._loading = target
                if target is None:
                    self._thread = None
                    return
            outcome = self._load_and_swap(target)
            with self._changed:
                self._outcomes[target] = outcome
                while len(self._outcomes) > REMEMBERED_OUTCOMES:
                    del self._outcomes[next(iter(self._outcomes))]
                self._loading = None
                self._changed.notify_all()

    def _load_and_swap(self, build_dir: Build) -> CitebotError | None:
        logger.info("loading build %s in the background", _name(build_dir))
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(LOAD_SWITCH_INTERVAL_SECONDS)
        try:
            loaded = self._load(build_dir)
        except CitebotError as error:
            logger.error(
                "cannot load build %s; the index that is serving keeps serving: %s",
                _name(build_dir),
                error,
            )
            return error
        except Exception as error:  # the loader thread must outlive any one build
            # Not a damaged build but a failing machine (memory, a vanished file): logged with
            # its traceback first, then kept out like a damaged one.
            logger.exception("cannot load build %s; the index that is serving keeps serving",
                             _name(build_dir))  # fmt: skip
            return IndexMismatchError(f"build {_name(build_dir)} cannot be loaded: {error}")
        finally:
            sys.setswitchinterval(switch_interval)
        self._swap_in(loaded)
        return None


def run_at_low_priority(function: Callable[[], T]) -> T:
    """Run `function` on a thread of its own at a lower CPU priority, and wait for it.

    For work that releases the interpreter lock (hashing): holding it at low priority would
    hold up the threads waiting for it. A thread of its own, because a thread's priority cannot
    be raised again without privileges.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOW_PRIORITY_NICENESS)
        except OSError as error:  # not Linux, or not allowed: only slower answers meanwhile
            logger.debug("cannot lower the priority of the checksum thread: %s", error)
        try:
            outcome.append(function())
        except BaseException as error:  # handed to the waiting thread, which raises it
            failure.append(error)

    worker = threading.Thread(target=run, name="index-checksums", daemon=True)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]
