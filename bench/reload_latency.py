"""Answer latency idle, while a new build loads, and while a worker builds, in one run (issue 11).

    python bench/reload_latency.py --passages 200000    # ~10 minutes the first time, on 2 cores
    python bench/reload_latency.py --passages 1000000   # the issue's size, if there is time

The index: corpus-<size> of bench/scale_corpus.py (real sentences, recombined), built by
`build_index` with stand-in passage vectors (random unit vectors; embedding 200k passages would
take about an hour here), so the JSONL tables, BM25, the HNSW graph and the manifest are real and
of full size. Questions (SciFact's) are embedded by the real model. The answers carry no meaning;
their latency does. The index is kept under bench/out/scale/ and reused by the next run.

Three phases take turns, `--rounds` times, each answering questions one after another through
`CitebotService.answer`, as the bot's one answer thread does:
- idle: nothing else runs;
- reload: a copy of the serving build (hard links to the same files, a new build id) is
  published and `CitebotService.use_build` loads it on the loader thread, as the bot does after a
  /reindex; counted are the questions asked while the load runs;
- worker build: a real build in a worker process (index/build_worker.py: the real models, nice
  10) of the shipped corpus into an index of its own, `full` so each one embeds.
Also printed: how long each load took, which is what the question that noticed a new build
waited before this change (the load ran in the answering path).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.embed_speed import load_scifact, machine  # noqa: E402
from bench.scale import MODEL_CACHE, OUT, percentiles, size_label, table  # noqa: E402
from bench.scale_corpus import write_corpus  # noqa: E402
from index.build_process import run_build_in_worker  # noqa: E402
from index.build_protocol import BuildJob  # noqa: E402
from index.builder import build_index  # noqa: E402
from index.config import (  # noqa: E402
    AnswerConfig,
    CorpusConfig,
    IndexConfig,
    PassageConfig,
    RetrievalConfig,
)
from index.service import CitebotService  # noqa: E402
from index.store import MANIFEST, IndexLayout, write_json_atomic  # noqa: E402

PHASES = ("idle", "reload", "worker build")


class StandInVectors:
    """Random unit vectors where the model's would be: a build of full size in minutes."""

    multilingual = None

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self._rng = np.random.default_rng(11)

    def embed_passages(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        vectors = self._rng.standard_normal((len(texts), self.dimension), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        if on_batch:
            on_batch(len(texts))
        return vectors


def index_config(passages: int) -> IndexConfig:
    """The English model alone: the stand-in vectors stand for its vectors only."""
    return IndexConfig(
        path=OUT / f"reload-index-{size_label(passages)}",
        model_cache=MODEL_CACHE,
        multilingual_model="none",
    )


def prepare_index(config: IndexConfig, passages: int, dimension: int) -> None:
    """corpus-<size> and its build (stand-in vectors), each made unless there already."""
    corpus = OUT / f"corpus-{size_label(passages)}"
    if not corpus.exists():
        started = time.perf_counter()
        stats = write_corpus(corpus, passages, seed=1)
        print(f"wrote {corpus.name}: {stats} in {time.perf_counter() - started:.0f} s",
              file=sys.stderr, flush=True)  # fmt: skip
    if IndexLayout(config.path).current_build() is None:
        started = time.perf_counter()
        report = build_index(
            CorpusConfig(path=corpus), PassageConfig(), config,
            lambda: StandInVectors(dimension),  # type: ignore[arg-type, return-value]
        )  # fmt: skip
        print(f"built {report.passages:,} passages in {time.perf_counter() - started:.0f} s",
              file=sys.stderr, flush=True)  # fmt: skip


def publish_copy(layout: IndexLayout) -> str:
    """Publish the serving build again under a new id: hard links, so the same bytes (warm in
    the page cache, as a build just written is) are loaded and checksummed again."""
    build = layout.current_build()
    assert build is not None
    build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
    work = layout.staging / f"copy-{build_id}"
    for path in sorted(build.rglob("*")):
        target = work / path.relative_to(build)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.name != MANIFEST:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
    manifest = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    manifest["build_id"] = build_id
    write_json_atomic(work / MANIFEST, manifest)
    layout.publish(work, build_id)
    layout.remove_old_builds()
    return build_id


def timed_answer(service: CitebotService, question: str) -> float:
    started = time.perf_counter()
    service.answer(question)
    return time.perf_counter() - started


def while_running(
    start: Callable[[], threading.Thread],
    busy: Callable[[], bool],
    service: CitebotService,
    questions: itertools.cycle[str],
    wanted: int,
) -> list[float]:
    """Answer questions while what `start` starts runs (again and again until `wanted`); keep
    the latencies of those asked while `busy()`."""
    kept: list[float] = []
    while len(kept) < wanted:
        thread = start()
        while thread.is_alive():
            counts = busy()
            seconds = timed_answer(service, next(questions))
            if counts:
                kept.append(seconds)
        thread.join()
    return kept


def measure(args: argparse.Namespace) -> dict[str, object]:
    questions_by_id = load_scifact()[2]
    questions = itertools.cycle(sorted(questions_by_id.values()))
    config = index_config(args.passages)
    service = CitebotService(
        CorpusConfig(), PassageConfig(), config, RetrievalConfig(), AnswerConfig()
    )
    prepare_index(config, args.passages, service.embedder.dimension)
    if args.prepare:
        return {}
    service.load()
    layout = IndexLayout(config.path)
    worker_job = BuildJob(
        CorpusConfig(path=ROOT / "corpus"), PassageConfig(),
        IndexConfig(path=OUT / "reload-worker-index", model_cache=MODEL_CACHE), full=True,
    )  # fmt: skip
    for _ in range(10):  # warm: the model, the page cache, the first searches
        timed_answer(service, next(questions))

    latencies: dict[str, list[float]] = {phase: [] for phase in PHASES}
    load_seconds: list[float] = []

    def start_reload() -> threading.Thread:
        build_id = publish_copy(layout)
        thread = threading.Thread(target=service.use_build, args=(build_id,))
        thread.start()
        while service.loading_build is None and service.live().build_id != build_id:
            time.sleep(0.001)  # the loader has picked it up
        return thread

    def start_worker_build() -> threading.Thread:
        thread = threading.Thread(target=run_build_in_worker, args=(worker_job,))
        thread.start()
        return thread

    for round_number in range(args.rounds):
        for _ in range(args.questions):
            latencies["idle"].append(timed_answer(service, next(questions)))
        before = len(load_seconds)
        latencies["reload"] += while_running(
            lambda: _record_load(start_reload, service, load_seconds),
            lambda: service.loading_build is not None, service, questions, args.questions,
        )  # fmt: skip
        latencies["worker build"] += while_running(
            start_worker_build, lambda: True, service, questions, args.questions
        )
        print(f"round {round_number + 1}/{args.rounds}: {len(load_seconds) - before} loads",
              file=sys.stderr, flush=True)  # fmt: skip
    build = service.live()
    idle_p95 = percentiles(latencies["idle"])[1]
    rows = []
    for phase in PHASES:
        p50, p95 = percentiles(latencies[phase])
        rows.append({
            "phase": phase, "questions": len(latencies[phase]), "p50 ms": p50, "p95 ms": p95,
            "max ms": float(np.max(latencies[phase]) * 1000), "p95 / idle p95": p95 / idle_p95,
        })  # fmt: skip
    passages = build.manifest.passage_count
    table(f"Answer latency at {passages:,} passages ({machine()})", rows)
    table("Loads of a published build (on the loader thread)", [{
        "loads": len(load_seconds), "median s": float(np.median(load_seconds)),
        "max s": float(np.max(load_seconds)), "verify_checksums": config.verify_checksums,
    }])  # fmt: skip
    return {"passages": passages, "rows": rows, "load_seconds": load_seconds,
            "machine": machine()}  # fmt: skip


def _record_load(
    start: Callable[[], threading.Thread], service: CitebotService, seconds: list[float]
) -> threading.Thread:
    """Start a reload, and note its load time once it is serving."""
    thread = start()

    def note() -> None:
        thread.join()
        seconds.append(service.live().load_seconds)

    watcher = threading.Thread(target=note)
    watcher.start()
    return watcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--questions", type=int, default=100, help="per phase and round")
    parser.add_argument("--prepare", action="store_true", help="only make the corpus and index")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    result = measure(args)
    if result:
        path = OUT / f"reload-{size_label(args.passages)}.json"
        path.write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
