"""Today's citebot beside the working tree, in the same run: a checkout of an earlier commit run
through its own command line, so both are measured the same way on the same machine and load.

The checkout is a detached `git worktree` under bench/out/baseline/<commit>/ (gitignored),
imported ahead of the installed citebot through PYTHONPATH; the working tree is run the same
way, so the two differ only in their code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINES = ROOT / "bench" / "out" / "baseline"


def checkout(revision: str) -> Path:
    """A worktree of `revision` (made once, reused)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", revision], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    folder = BASELINES / commit
    if not (folder / "bot" / "cli.py").exists():
        BASELINES.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--force", str(folder), commit],
            cwd=ROOT, capture_output=True, check=True,
        )  # fmt: skip
    return folder


@dataclass(frozen=True)
class Code:
    """A citebot source tree to run: the working tree or a baseline checkout."""

    name: str
    root: Path

    def run(
        self,
        args: list[str],
        corpus: Path,
        index: Path,
        stdin: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> tuple[subprocess.CompletedProcess[str], float]:
        """`citebot ARGS` from this tree on this corpus and index; (result, wall seconds)."""
        env = dict(
            os.environ,
            PYTHONPATH=str(self.root),
            HF_HUB_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
            CITEBOT_CONFIG=str(self.root / "config.yaml"),
            CITEBOT_CORPUS__PATH=str(corpus),
            CITEBOT_CORPUS__MAX_FILE_MB="100",
            CITEBOT_INDEX__PATH=str(index),
            CITEBOT_INDEX__MODEL_CACHE=str(ROOT / "bench" / "out" / "models"),
            **(extra_env or {}),
        )
        command = [sys.executable, "-c", "from bot.cli import main; raise SystemExit(main())"]
        started = time.perf_counter()
        done = subprocess.run(
            [*command, *args], input=stdin, cwd=self.root, env=env, capture_output=True,
            text=True, check=False,
        )  # fmt: skip
        return done, time.perf_counter() - started

    def answers(self, questions: list[str], corpus: Path, index: Path) -> list[dict]:
        """Every question through `citebot ask --json -`, one JSON answer per question."""
        done, _ = self.run(["ask", "--json", "-"], corpus, index, "\n".join(questions) + "\n")
        if done.returncode != 0:
            raise RuntimeError(f"{self.name}: ask failed ({done.returncode}): {done.stderr[-800:]}")
        answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        if len(answers) != len(questions):
            raise RuntimeError(f"{self.name}: {len(answers)} answers to {len(questions)} questions")
        return answers

    def build_seconds(self, corpus: Path, index: Path) -> float:
        done, seconds = self.run(["index", "--full"], corpus, index)
        if done.returncode != 0:
            raise RuntimeError(f"{self.name}: index failed: {done.stderr[-800:]}")
        return seconds

    def serve_rss_mb(self, corpus: Path, index: Path, question: str) -> float:
        """Resident memory of `citebot serve` (the terminal chat, no token) after it answered a
        question: the whole bot process with its models and index loaded."""
        env = dict(
            os.environ,
            PYTHONPATH=str(self.root),
            HF_HUB_OFFLINE="1",
            CITEBOT_CONFIG=str(self.root / "config.yaml"),
            CITEBOT_CORPUS__PATH=str(corpus),
            CITEBOT_INDEX__PATH=str(index),
            CITEBOT_INDEX__MODEL_CACHE=str(ROOT / "bench" / "out" / "models"),
        )
        env.pop("TELEGRAM_BOT_TOKEN", None)
        command = [sys.executable, "-c", "from bot.cli import main; raise SystemExit(main())"]
        process = subprocess.Popen(
            [*command, "serve"], cwd=self.root, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(question + "\n")
            process.stdin.flush()
            _read_until_prompt(process.stdout, prompts=2)  # the greeting's, then the answer's
            return _rss_mb(process.pid)
        finally:
            process.stdin.close()
            process.wait(timeout=60)


def _read_until_prompt(stream: object, prompts: int) -> None:
    seen, buffer = 0, ""
    while seen < prompts:
        char = stream.read(1)  # type: ignore[attr-defined]
        if not char:
            raise RuntimeError("citebot serve ended before answering")
        buffer = (buffer + char)[-16:]
        if buffer.endswith("citebot> "):
            seen += 1


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


WORKING_TREE = Code("working tree", ROOT)
