"""Scale benchmark (issue 4): real builds at 10k passages, search and start-up at 1M.

    python bench/scale.py corpus                 # bench/out/scale/corpus-10k and corpus-1m
    python bench/scale.py build                  # a real build of corpus-10k, naive vs ours
    python bench/scale.py search                 # 1M vectors from real ones: flat, HNSW, IVF
    python bench/scale.py hnsw --hnsw-m 32 --ef-construction 80   # more HNSW settings at 1M
    python bench/scale.py full                   # a complete 1M build: BM25, load, answers
    python bench/scale.py answers --hnsw-m 32 --ef-construction 80 --ef-search 256  # again

Each stage prints markdown tables and saves them as bench/out/scale/<stage>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "scale"
sys.path.insert(0, str(ROOT))

from bench.embed_speed import machine  # noqa: E402
from bench.scale_corpus import write_corpus  # noqa: E402
from index.builder import build_index  # noqa: E402
from index.config import CorpusConfig, IndexConfig, PassageConfig  # noqa: E402
from index.embedder import Embedder, resolve_model  # noqa: E402
from index.models import BuildProgress  # noqa: E402
from index.store import IndexLayout, JsonlTable  # noqa: E402

SMALL, LARGE = OUT / "corpus-10k", OUT / "corpus-1m"
MODEL_CACHE = ROOT / "bench" / "out" / "models"


def index_config(path: Path, **settings: object) -> IndexConfig:
    return IndexConfig(path=path, model_cache=MODEL_CACHE, **settings)  # type: ignore[arg-type]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentiles(seconds: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    values = np.asarray(seconds) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}\n| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
    for row in rows:
        cells = [
            f"{v:,.3f}".rstrip("0").rstrip(".")
            if isinstance(v, float)
            else f"{v:,}"
            if isinstance(v, int)
            else str(v)
            for v in row.values()
        ]
        print("| " + " | ".join(cells) + " |")


def save(stage: str, result: dict) -> None:
    result["machine"] = machine()
    (OUT / f"{stage}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")


def stage_corpus(args: argparse.Namespace) -> None:
    for folder, target, seed in ((SMALL, args.small, 1), (LARGE, args.large, 2)):
        started = time.perf_counter()
        shutil.rmtree(folder, ignore_errors=True)
        stats = write_corpus(folder, target, seed)
        print(f"{folder.name}: {stats} in {time.perf_counter() - started:.0f}s")


def file_bytes(build: Path) -> dict[str, int]:
    """Bytes of each structure of a build."""

    def size(*names: str) -> int:
        return sum(p.stat().st_size for n in names for p in build.glob(n) if p.is_file())

    return {
        "vectors.npy": size("vectors.npy"),
        "dense.faiss": size("dense.faiss"),
        "bm25/": size("bm25/*"),
        "passages.jsonl (+offsets)": size("passages.jsonl", "passages.offsets.npy"),
        "documents.jsonl (+offsets)": size("documents.jsonl", "documents.offsets.npy"),
    }


def stage_build(args: argparse.Namespace) -> None:
    """A real build of corpus-10k, then naive encode vs our Embedder on a sample of its passages."""
    root = OUT / "index-10k"
    shutil.rmtree(root, ignore_errors=True)
    config = index_config(root)
    stamps: dict[str, float] = {}

    def progress(report: BuildProgress) -> None:
        stamps.setdefault(report.stage, time.perf_counter())

    embedder_holder: list[Embedder] = []

    def get_embedder() -> Embedder:
        if not embedder_holder:
            embedder_holder.append(Embedder(config))
        return embedder_holder[0]

    started = time.perf_counter()
    report = build_index(CorpusConfig(path=SMALL), PassageConfig(), config, get_embedder, progress)
    total = time.perf_counter() - started
    peak = peak_rss_mb()
    build = IndexLayout(root).current_build()
    assert build is not None
    embed_seconds = stamps["indexing"] - stamps["embedding"]
    sizes = file_bytes(build)
    result = {
        "passages": report.passages,
        "articles": report.articles,
        "backend": embedder_holder[0].backend,
        "build_seconds": total,
        "embed_seconds": embed_seconds,
        "peak_rss_mb": peak,
        "bytes_per_passage": {k: v / report.passages for k, v in sizes.items()},
    }
    print(
        f"build: {report.passages} passages, {report.articles} articles in {total:.0f}s "
        f"({report.passages / total:.1f} passages/s overall, {report.passages / embed_seconds:.1f}"
        f"/s embedding), peak RSS {peak:.0f} MB"
    )
    table(
        "bytes per passage (10k build)",
        [
            {"structure": k, "bytes": v, "bytes/passage": v / report.passages}
            for k, v in sizes.items()
        ],
    )
    result["sample"] = compare_on_sample(build, embedder_holder[0], args.sample, args.repeats)
    save("build", result)


def compare_on_sample(build: Path, ours: Embedder, count: int, repeats: int) -> list[dict]:
    """Naive SentenceTransformer.encode vs our Embedder on the same built passages, interleaved."""
    from sentence_transformers import SentenceTransformer

    from index.builder import embedding_text

    passages = JsonlTable(build / "passages.jsonl")
    documents = {d["doc_id"]: d["title"] for d in JsonlTable(build / "documents.jsonl")}
    rows = np.random.default_rng(0).choice(len(passages), count, replace=False)
    texts = [
        embedding_text(documents[p["doc_id"]], p["text"]) for p in map(passages.__getitem__, rows)
    ]
    naive = SentenceTransformer(resolve_model("default"), device="cpu")
    runs = {
        "naive: SentenceTransformer.encode": lambda: naive.encode(texts),
        f"ours: Embedder ({ours.backend})": lambda: ours.embed_passages(texts),
    }
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for repeat in range(repeats + 1):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            if repeat:
                rates[name].append(count / (time.perf_counter() - started))
    base = statistics.median(rates["naive: SentenceTransformer.encode"])
    rows_out = [
        {
            "variant": n,
            "passages/s (median)": statistics.median(r),
            "× naive": statistics.median(r) / base,
            "repeats": str([round(x, 1) for x in r]),
        }
        for n, r in rates.items()
    ]
    table(f"embedding the same {count} built passages, {repeats} interleaved repeats", rows_out)
    return rows_out


if __name__ == "__main__":
    from bench.scale_full import remeasure as stage_answers
    from bench.scale_search import stage_full, stage_hnsw, stage_search

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=["corpus", "build", "search", "hnsw", "full", "answers"])
    parser.add_argument("--small", type=int, default=10_000, help="passages in corpus-10k")
    parser.add_argument("--large", type=int, default=1_000_000, help="passages in corpus-1m")
    parser.add_argument("--sample", type=int, default=256, help="passages for naive vs ours")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--hnsw-m", type=int, nargs="+", default=[32])
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--ef-search", type=int, default=128, help="for the full stage")
    parser.add_argument("--ivf", action="store_true", help="also measure IVF-Flat")
    OUT.mkdir(parents=True, exist_ok=True)
    arguments = parser.parse_args()
    print(machine())
    stages = {
        "corpus": stage_corpus,
        "build": stage_build,
        "search": stage_search,
        "hnsw": stage_hnsw,
        "full": stage_full,
        "answers": stage_answers,
    }
    stages[arguments.stage](arguments)
    print(f"peak RSS of this stage: {peak_rss_mb():.0f} MB; load average {os.getloadavg()[0]:.1f}")
