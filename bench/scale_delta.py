"""Updates in proportion to the change (issue 11, item 2): adding a few articles to a large index
through a delta segment, beside the same change as a full rewrite, in one run.

    python bench/scale_delta.py --passages 200000 --new-articles 10

1. The corpus `bench/out/scale/corpus-<N>` (bench/scale_corpus.py, seed 3), written unless it is
   there.
2. The base: built once through `index.builder.build_index`, with a stand-in embedder that gives
   random unit vectors (embedding N passages for real takes hours on this machine; neither mode
   below reads the base's vectors for their meaning). English only (`multilingual_model: none`)
   and `index_type: ivf` (HNSW takes many minutes to build at this size; it would only make the
   full rewrite slower still).
3. For each mode, on its own copy of the base index: `--new-articles` new articles (real text,
   one with a sentence found nowhere else) are written as files, then the real `citebot index`
   runs (model load and embedding included), then `citebot ask --json` asks about the unique
   sentence, in a fresh process (model and index load included). Modes: `delta` (the shipped
   `delta_merge_fraction`) and `full rewrite` (`delta_merge_fraction: 0`, the behaviour before
   delta segments: every file's vectors reused, BM25, faiss and tables written again).
4. `--in-process` (a second command, after a run): more new articles added to the delta mode's
   index, built in this process with the model loaded, with the seconds of each phase.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scale import OUT, index_config, size_label, table  # noqa: E402
from bench.scale_corpus import generate_articles, sentence_pool, write_corpus  # noqa: E402
from index.builder import build_index  # noqa: E402
from index.config import (  # noqa: E402
    AnswerConfig,
    CorpusConfig,
    IndexConfig,
    PassageConfig,
    RetrievalConfig,
)
from index.embedder import Embedder  # noqa: E402
from index.service import CitebotService  # noqa: E402

UNIQUE = "The Tallinn observatory counted 4,217 meteors during the night of the Perseid peak."
QUESTION = "How many meteors did the Tallinn observatory count?"
SETTINGS = {"multilingual_model": "none", "index_type": "ivf"}


class StandInEmbedder:
    """Random unit vectors in the English model's width, for a base nobody asks about."""

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)

    def embed_passages(self, texts: list[str], progress: Callable[[int], None]) -> np.ndarray:
        vectors = self._rng.standard_normal((len(texts), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        progress(len(texts))
        return vectors


def base_index(corpus: Path, passages: int) -> Path:
    root = OUT / f"delta-base-{size_label(passages)}"
    config = index_config(root / "index", **SETTINGS)
    if not (root / "index" / "current").exists():
        started = time.perf_counter()
        report = build_index(
            CorpusConfig(path=corpus), PassageConfig(), config,
            lambda: StandInEmbedder(),  # type: ignore[arg-type, return-value]
        )  # fmt: skip
        print(
            f"base: {report.passages:,} passages, {report.articles:,} articles, built in "
            f"{time.perf_counter() - started:.0f}s (stand-in vectors)",
            file=sys.stderr,
        )
    return root


def new_articles(
    folder: Path, count: int, prefix: str = "new", seed: int = 99, unique: str | None = UNIQUE
) -> None:
    """`count` generated articles named <prefix>-NN.md; the first also says `unique`."""
    titles, runs = sentence_pool()
    stream = generate_articles(seed, titles, runs)
    for number in range(count):
        record = next(stream)
        text = record["text"] + (f"\n\n{unique}" if number == 0 and unique else "")
        (folder / f"{prefix}-{number:02d}.md").write_text(
            # JSON strings are YAML: a title with a colon stays one title.
            f"---\ntitle: {json.dumps(record['title'])}\ndate: {record['date']}\n---\n{text}\n",
            encoding="utf-8",
        )


def citebot_env(work: Path, **extra: str) -> dict[str, str]:
    """The environment of a `citebot` subprocess on `work`'s corpus and index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    return env | {
        "HF_HUB_OFFLINE": "1",
        "CITEBOT_CONFIG": str(ROOT / "config.yaml"),
        "CITEBOT_CORPUS__PATH": str(work / "corpus"),
        "CITEBOT_INDEX__PATH": str(work / "index"),
        "CITEBOT_INDEX__MODEL_CACHE": str(index_config(work).model_cache),
        **{f"CITEBOT_INDEX__{k.upper()}": v for k, v in SETTINGS.items()},
        **extra,
    }


def run_mode(name: str, base: Path, corpus: Path, count: int, fraction: float) -> dict:
    work = OUT / f"delta-run-{name.replace(' ', '-')}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base / "index", work / "index", symlinks=True)
    shutil.copytree(corpus, work / "corpus")
    new_articles(work / "corpus", count)
    env = citebot_env(work, CITEBOT_INDEX__DELTA_MERGE_FRACTION=str(fraction))
    citebot = str(Path(sys.executable).with_name("citebot"))
    started = time.perf_counter()
    index = subprocess.run([citebot, "index"], env=env, capture_output=True, text=True)
    index_seconds = time.perf_counter() - started
    assert index.returncode == 0, index.stderr[-2000:]
    started = time.perf_counter()
    ask = subprocess.run(
        [citebot, "ask", "--json", QUESTION], env=env, capture_output=True, text=True
    )
    ask_seconds = time.perf_counter() - started
    assert ask.returncode == 0, ask.stderr[-2000:]
    answer = json.loads(ask.stdout.splitlines()[-1])
    first = answer["citations"][0] if answer["citations"] else {}
    manifest = json.loads((work / "index" / "current" / "manifest.json").read_text())
    return {
        "mode": name,
        "citebot index s": index_seconds,
        "citebot ask s (fresh process)": ask_seconds,
        "answerable after s": index_seconds + ask_seconds,
        "cites the new article": first.get("doc_id") == "new-00"
        and "4,217" in first.get("snippet", ""),
        "passages": manifest["passage_count"],
        "delta passages": manifest.get("delta", {}).get("passages", "-"),
        "written MB": sum(f["bytes"] for f in manifest["files"].values()) / 2**20,
    }


def in_process(count: int) -> None:
    """One more delta build on the delta mode's index, in this process with the model already
    loaded, as a serving bot or a build worker runs it; prints where its time went."""
    work = OUT / "delta-run-delta"
    config = index_config(work / "index", **SETTINGS)
    started = time.perf_counter()
    embedder = Embedder(config)
    embedder.embed_query("warm up")
    model_seconds = time.perf_counter() - started
    new_articles(work / "corpus", count, prefix="more", seed=123, unique=None)
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    report = build_index(
        CorpusConfig(path=work / "corpus"), PassageConfig(), config, lambda: embedder
    )
    profile.disable()
    seconds = time.perf_counter() - started
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    parts = {
        "scan corpus (sha256 of every file)": "scan_corpus",
        "check the serving build": "_previous_build",
        "plan the delta (ids included)": "plan_delta",
        "embed": "embed_in_chunks",
        "write the delta": "write_delta",
        "publish": "publish",
    }
    rows = [{"phase": "load the model (once per process)", "seconds": model_seconds}]
    for label, function in parts.items():
        cumulative = sum(v[3] for k, v in stats.items() if k[2] == function)
        rows.append({"phase": label, "seconds": cumulative})
    rows.append(
        {"phase": f"whole delta build ({report.passages_embedded} passages)", "seconds": seconds}
    )
    table(
        f"{count} more articles, in process with the model loaded (load average "
        f"{os.getloadavg()[0]:.1f})",
        rows,
    )


def serving(count: int) -> None:
    """The delta mode's index served by a CitebotService in this process (loaded before the
    clock, as a running bot has it), `count` more articles written, then the real `citebot
    index` in a subprocess: seconds from its start until this service cites the new article
    (it notices the published build and loads only the delta, on its loader thread)."""
    work = OUT / "delta-run-delta"
    config = index_config(work / "index", **SETTINGS)
    service = CitebotService(
        CorpusConfig(path=work / "corpus"), PassageConfig(), config, RetrievalConfig(),
        AnswerConfig(),
    )  # fmt: skip
    started = time.perf_counter()
    service.load()
    service.answer("warm up")
    loaded = time.perf_counter() - started
    run = secrets.randbelow(9000) + 1000  # a name no earlier run used: each run adds its own
    unique = f"The Kvarn{run} ferry carried 6,318 cyclists across the bay on its first weekend."
    question = f"How many cyclists did the Kvarn{run} ferry carry?"
    new_articles(work / "corpus", count, prefix=f"serve-{run}", seed=321, unique=unique)
    env = citebot_env(work)
    citebot = str(Path(sys.executable).with_name("citebot"))
    started = time.perf_counter()
    process = subprocess.Popen([citebot, "index"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    latencies, built, answered = [], None, None
    while answered is None and time.perf_counter() - started < 600:
        asked = time.perf_counter()
        answer = service.answer(question)
        latencies.append(time.perf_counter() - asked)
        if built is None and process.poll() is not None:
            built = time.perf_counter() - started
            assert process.returncode == 0, process.communicate()[1][-2000:]
        first = answer.citations[0] if answer.citations else None
        if first is not None and first.doc_id == f"serve-{run}-00" and "6,318" in first.snippet:
            answered = time.perf_counter() - started
        else:
            time.sleep(0.2)
    _, log = process.communicate()
    if built is None:
        built = time.perf_counter() - started
    print(log[-1500:], file=sys.stderr)
    table(
        f"{count} new articles on the served delta-mode index (1M base) "
        f"(load average {os.getloadavg()[0]:.1f})",
        [{
            "service load before the clock s": loaded,
            "citebot index s (process exit)": built,
            "answered from the service after s": answered if answered is not None else "never",
            "questions meanwhile": len(latencies),
            "their p95 ms": float(np.percentile(latencies, 95)) * 1000,
        }],
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=200_000)
    parser.add_argument("--new-articles", type=int, default=10)
    parser.add_argument(
        "--in-process", action="store_true", help="only the in-process delta build, after a run"
    )
    parser.add_argument(
        "--serving", action="store_true", help="answerable from a serving process, after a run"
    )
    parser.add_argument("--corpus", type=Path, help="an existing scale corpus to use instead")
    parser.add_argument(
        "--modes", nargs="+", default=["delta", "full rewrite"], choices=["delta", "full rewrite"]
    )
    args = parser.parse_args()
    if args.in_process:
        in_process(args.new_articles)
        return
    if args.serving:
        serving(args.new_articles)
        return
    corpus = args.corpus or OUT / f"corpus-{size_label(args.passages)}-delta"
    if not corpus.exists():
        print(f"corpus: {write_corpus(corpus, args.passages, 3)}", file=sys.stderr)
    base = base_index(corpus, args.passages)
    from bench.embed_speed import machine

    print(machine())
    fractions = {"delta": IndexConfig().delta_merge_fraction, "full rewrite": 0.0}
    rows = [run_mode(mode, base, corpus, args.new_articles, fractions[mode]) for mode in args.modes]
    table(
        f"{args.new_articles} new articles on a {rows[0]['passages']:,}-passage index "
        f"(load average {os.getloadavg()[0]:.1f} at the end)",
        rows,
    )


if __name__ == "__main__":
    main()
