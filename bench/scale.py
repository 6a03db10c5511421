"""Scale benchmark (issue 4): real builds at 10k and 100k passages, incremental builds, 1M search.

    python bench/scale.py corpus                 # bench/out/scale/corpus-10k and corpus-1m
    python bench/scale.py build                  # a real build of corpus-10k, naive vs ours
    python bench/scale.py build --passages 100000   # the same at 100k (writes corpus-100k first)
    python bench/scale.py sample --passages 100000 --backends torch onnx-int8 openvino
                                                 # naive vs ours again, on a build's passages
    python bench/scale.py incremental            # corpus-10k as 1,691 files: change 1%, delete 1%
    python bench/scale.py search                 # 1M vectors from real ones: flat, HNSW, IVF
    python bench/scale.py hnsw --hnsw-m 32 --ef-construction 80   # more HNSW settings at 1M
    python bench/scale.py ivf                    # IVF-Flat on the same 1M vectors
    python bench/scale.py full                   # a complete 1M build: BM25, load, answers
    python bench/scale.py answers --hnsw-m 32 --ef-construction 80 --ef-search 256  # again

Each stage prints markdown tables and saves them as bench/out/scale/<stage>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import os
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "scale"
sys.path.insert(0, str(ROOT))

from bench.embed_speed import machine  # noqa: E402
from bench.scale_corpus import write_corpus  # noqa: E402
from index import builder  # noqa: E402
from index.builder import build_index  # noqa: E402
from index.config import CorpusConfig, IndexConfig, PassageConfig  # noqa: E402
from index.embedder import Embedder, resolve_backend, resolve_model  # noqa: E402
from index.models import BuildProgress, BuildReport  # noqa: E402
from index.passages import split_sentences  # noqa: E402
from index.store import IndexLayout, JsonlTable, read_manifest  # noqa: E402

SMALL, LARGE = OUT / "corpus-10k", OUT / "corpus-1m"
MODEL_CACHE = ROOT / "bench" / "out" / "models"
INCREMENTAL = OUT / "incremental"


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


def size_label(passages: int) -> str:
    return f"{passages // 1000}k" if passages % 1000 == 0 else str(passages)


def stage_build(args: argparse.Namespace) -> None:
    """A real build of corpus-<size>, then naive encode vs our Embedder on a sample of its
    passages. corpus-10k comes from the corpus stage; another size is written here, by the same
    generator with the same seed (so corpus-100k starts with corpus-10k's articles)."""
    label = size_label(args.passages)
    corpus = OUT / f"corpus-{label}"
    if not corpus.is_dir():
        started = time.perf_counter()
        stats = write_corpus(corpus, args.passages, 1)
        print(f"{corpus.name}: {stats} in {time.perf_counter() - started:.0f}s")
    root = OUT / f"index-{label}"
    if not args.resume:
        shutil.rmtree(root, ignore_errors=True)
    config = index_config(root)
    embedder = functools.cache(lambda: Embedder(config))
    report, phases = timed_build(corpus, config, embedder)
    total = phases.seconds
    peak = peak_rss_mb()
    build = IndexLayout(root).current_build()
    assert build is not None
    stamps = phases.stamps
    embed_seconds = stamps["indexing"] - stamps["embedding"]
    sizes = file_bytes(build)
    sentence_vectors = int(read_manifest(build).data["sentence_vectors"])
    seconds = phases.split()
    result = {
        "passages": report.passages,
        "passages_embedded_this_run": report.passages_embedded,
        "resumed": args.resume,
        "articles": report.articles,
        "sentence_vectors": sentence_vectors,
        "backend": embedder().backend,
        "build_seconds": total,
        "embed_seconds": embed_seconds,
        "phases": seconds,
        "peak_rss_mb": peak,
        "bytes_per_passage": {k: v / report.passages for k, v in sizes.items()},
    }
    print(
        f"build: {report.passages} passages ({sentence_vectors} sentence vectors), "
        f"{report.articles} articles in {total:.0f}s "
        f"({report.passages / total:.1f} passages/s overall; {report.passages_embedded} embedded "
        f"by this run at {report.passages_embedded / embed_seconds:.1f}/s), peak RSS {peak:.0f} MB"
    )
    table(
        f"where the time went ({label} build)",
        [{"phase": k, "seconds": v} for k, v in seconds.items()],
    )
    table(
        f"bytes per passage ({label} build)",
        [
            {"structure": k, "bytes": v, "bytes/passage": v / report.passages}
            for k, v in sizes.items()
        ],
    )
    result["sample"] = compare_on_sample(build, embedder(), args.sample, args.repeats)
    save("build" if args.passages == 10_000 else f"build-{label}", result)


class Phases:
    """Where a build's time goes: the builder's progress stages, plus timers wrapped around the
    few builder calls that are not stages of their own (scan, serving-build check, BM25, faiss,
    manifest). Also prints the embedding rate to standard error every `every` seconds."""

    TIMED = ("scan_corpus", "read_manifest", "build_dense_index", "write_manifest")

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self.stamps: dict[str, float] = {}
        self.timers: dict[str, float] = {}
        self.printed = 0.0
        self.texts = 0  # passages and sentences embedded
        self.started = self.ended = 0.0  # when the watched build began and ended

    def progress(self, report: BuildProgress) -> None:
        now = time.perf_counter()
        self.stamps.setdefault(report.stage, now)
        if report.stage != "embedding":
            return
        self.texts = report.passages_to_embed
        if report.passages_embedded and now - self.printed > self.every:
            self.printed = now
            done, total = report.passages_embedded, report.passages_to_embed
            rate = done / (now - self.stamps["embedding"])
            print(
                f"  embedding {done:,}/{total:,} texts, {rate:.1f}/s, about "
                f"{(total - done) / rate / 60:.0f} min left; load average {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
                flush=True,
            )

    def timed(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.timers[name] = self.timers.get(name, 0.0) + time.perf_counter() - started

        return run

    @contextlib.contextmanager
    def watching(self) -> Iterator[Phases]:
        """Wrap the builder's calls with timers for the duration of one build."""
        with contextlib.ExitStack() as stack:
            for name in self.TIMED:
                stack.enter_context(
                    mock.patch.object(builder, name, self.timed(name, getattr(builder, name)))
                )
            lexical = builder.LexicalIndex
            stack.enter_context(
                mock.patch.object(lexical, "build", staticmethod(self.timed("bm25", lexical.build)))
            )
            stack.enter_context(
                mock.patch.object(lexical, "save", self.timed("bm25", lexical.save))
            )
            self.started = time.perf_counter()
            try:
                yield self
            finally:
                self.ended = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def split(self) -> dict[str, float]:
        """Seconds per phase of the watched build."""
        started, ended = self.started, self.ended
        order = ["scanning", "loading model", "embedding", "indexing", "publishing"]
        marks = [(s, self.stamps[s]) for s in order if s in self.stamps] + [("end", ended)]
        spans = {a: b_at - a_at for (a, a_at), (_, b_at) in itertools.pairwise(marks)}
        timers = self.timers
        written = sum(timers.get(n, 0.0) for n in ("bm25", "build_dense_index", "write_manifest"))
        phases = {
            "scan corpus (read + sha256 of every file)": timers.get("scan_corpus", 0.0),
            "check serving build (sha256 of its files)": timers.get("read_manifest", 0.0),
            "plan (read changed files, reuse the rest)": spans.get("scanning", 0.0),
            "load model": spans.get("loading model", 0.0),
            "embed": spans.get("embedding", 0.0),
            "write: vectors, sentence vectors, jsonl": spans.get("indexing", 0.0) - written,
            "write: BM25 build + save": timers.get("bm25", 0.0),
            "write: faiss index": timers.get("build_dense_index", 0.0),
            "write: manifest (sha256 of new files)": timers.get("write_manifest", 0.0),
            "publish + clean up": spans.get("publishing", 0.0),
        }
        phases["other"] = (ended - started) - sum(phases.values())
        return phases


def stage_incremental(args: argparse.Namespace) -> None:
    """Issue 4: changing 1% of the files costs about 1% of a full build; deleting 1% embeds nothing.

    corpus-10k is copied as one article per file (its own .jsonl files hold 500 articles each, and
    the builder reuses or re-embeds whole files). Each build loads the model itself, as a
    `citebot index` run does; the phase table shows that load apart.
    """
    corpus, root = INCREMENTAL / "corpus", INCREMENTAL / "index"
    shutil.rmtree(root, ignore_errors=True)
    records = split_into_files(SMALL, corpus)
    config = index_config(root)
    rng = np.random.default_rng(args.seed)
    count = round(len(records) * args.fraction)
    picked = rng.choice(len(records), 2 * count, replace=False)
    changed = [records[i] for i in picked[:count]]
    deleted = [records[i] for i in picked[count:]]
    taken = set(picked.tolist())
    donors = [r for i, r in enumerate(records) if i not in taken]
    steps: list[dict[str, Any]] = []
    phases: dict[str, dict[str, float]] = {}

    def step(name: str, files: int) -> BuildReport:
        report, build = timed_build(corpus, config, functools.cache(lambda: Embedder(config)))
        seconds = build.seconds
        full = steps[0]["seconds"] if steps else seconds
        steps.append(
            {
                "step": name,
                "files changed": files,
                "passages embedded": report.passages_embedded,
                "texts embedded (passages + sentences)": build.texts,
                "seconds": seconds,
                "× full build": seconds / full,
            }
        )
        phases[name] = build.split()
        print(
            f"{name}: {report.articles:,} articles, {report.passages:,} passages, "
            f"{report.passages_embedded:,} embedded, {seconds:.1f}s; load average "
            f"{os.getloadavg()[0]:.1f}",
            file=sys.stderr,
            flush=True,
        )
        return report

    first = step("full build (fresh index)", len(records))
    for record in changed:
        edit_sentence(record, donors, rng)
        write_article(corpus, record)
    edited = step(f"change 1 sentence in {count} articles", count)
    assert len(edited.files_changed) == count and edited.passages_embedded > 0, edited
    for record in deleted:
        (corpus / f"{record['id']}.jsonl").unlink()
    removed = step(f"delete {count} other articles", count)
    assert removed.passages_embedded == 0, removed
    assert len(removed.files_removed) == count, removed
    assert removed.articles == first.articles - count, removed
    indexed = indexed_ids(root)
    assert len(indexed) == first.articles - count
    assert not indexed & {r["id"] for r in deleted}
    unchanged = step("no change", 0)
    assert unchanged.unchanged and unchanged.passages_embedded == 0, unchanged

    table(
        f"incremental builds of corpus-10k as {len(records):,} files "
        f"({first.passages:,} passages), backend {resolve_backend(config)}",
        steps,
    )
    table(
        "where the time went (seconds)",
        [{"phase": p} | {s: phases[s][p] for s in phases} for p in phases[steps[0]["step"]]],
    )
    print(
        f"\nafter the deletions: {len(indexed):,} articles in documents.jsonl, none of the "
        f"{count} deleted ids among them; {removed.passages:,} passages"
    )
    save(
        "incremental",
        {
            "steps": steps,
            "phases": phases,
            "changed": [r["id"] for r in changed],
            "deleted": [r["id"] for r in deleted],
            "articles_after_delete": len(indexed),
        },
    )


def split_into_files(source: Path, target: Path) -> list[dict[str, Any]]:
    """Copy a corpus of .jsonl files as one single-line .jsonl file per article (same id, title,
    date, source and text, so the same passages)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    records = [
        json.loads(line)
        for path in sorted(source.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    for record in records:
        write_article(target, record)
    return records


def write_article(folder: Path, record: dict[str, Any]) -> None:
    path = folder / f"{record['id']}.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")


def edit_sentence(record: dict[str, Any], donors: list[dict[str, Any]], rng: Any) -> None:
    """Replace the middle sentence of an article with a real sentence of another article."""
    text = record["text"]
    spans = split_sentences(text)
    start, end = spans[len(spans) // 2]
    while True:
        donor = donors[int(rng.integers(len(donors)))]["text"]
        donor_spans = split_sentences(donor)
        begin, stop = donor_spans[int(rng.integers(len(donor_spans)))]
        if donor[begin:stop] != text[start:end]:
            break
    record["text"] = text[:start] + donor[begin:stop] + text[end:]


def timed_build(
    corpus: Path, config: IndexConfig, embedder: Callable[[], Embedder]
) -> tuple[BuildReport, Phases]:
    """One build of `corpus`, watched: its report and where its time went."""
    phases = Phases()
    with phases.watching():
        report = build_index(
            CorpusConfig(path=corpus), PassageConfig(), config, embedder, phases.progress
        )
    return report, phases


def indexed_ids(root: Path) -> set[str]:
    build = IndexLayout(root).current_build()
    assert build is not None
    return {d["doc_id"] for d in JsonlTable(build / "documents.jsonl")}


def stage_sample(args: argparse.Namespace) -> None:
    """Naive encode vs our Embedder with each of --backends (default: what `auto` picks) on a
    sample of an existing build's passages, without building again."""
    label = size_label(args.passages)
    build = IndexLayout(OUT / f"index-{label}").current_build()
    if build is None:
        raise SystemExit(f"no build of corpus-{label}: run `bench/scale.py build` first")
    ours = [
        Embedder(index_config(OUT / "unused", **({"backend": b} if b else {})))
        for b in (args.backends or [None])
    ]
    rows = compare_on_sample(build, ours, args.sample, args.repeats)
    save(f"sample-{label}", {"build": build.name, "sample": rows})


def compare_on_sample(
    build: Path, ours: Embedder | list[Embedder], count: int, repeats: int
) -> list[dict]:
    """Naive SentenceTransformer.encode vs our Embedder(s) on the same built passages, taking
    turns within each repeat."""
    from sentence_transformers import SentenceTransformer

    from index.builder import embedding_text

    passages = JsonlTable(build / "passages.jsonl")
    documents = {d["doc_id"]: d["title"] for d in JsonlTable(build / "documents.jsonl")}
    rows = np.random.default_rng(0).choice(len(passages), count, replace=False)
    texts = [
        embedding_text(documents[p["doc_id"]], p["text"]) for p in map(passages.__getitem__, rows)
    ]
    naive = SentenceTransformer(resolve_model("default"), device="cpu")
    runs: dict[str, Callable[[], Any]] = {
        "naive: SentenceTransformer.encode": lambda: naive.encode(texts)
    }
    for embedder in ours if isinstance(ours, list) else [ours]:
        runs[f"ours: Embedder ({embedder.backend})"] = functools.partial(
            embedder.embed_passages, texts
        )
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
    from bench.scale_search import stage_full, stage_hnsw, stage_ivf, stage_search

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "stage",
        choices=[
            "corpus",
            "build",
            "sample",
            "incremental",
            "search",
            "hnsw",
            "ivf",
            "full",
            "answers",
        ],
    )
    parser.add_argument("--small", type=int, default=10_000, help="passages in corpus-10k")
    parser.add_argument("--large", type=int, default=1_000_000, help="passages in corpus-1m")
    parser.add_argument("--passages", type=int, default=10_000, help="corpus size to build")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="build: continue a killed build of this size from its saved chunks (rates then "
        "count only the passages this run embedded)",
    )
    parser.add_argument("--fraction", type=float, default=0.01, help="files changed/deleted")
    parser.add_argument("--seed", type=int, default=0, help="which files incremental edits")
    parser.add_argument("--sample", type=int, default=256, help="passages for naive vs ours")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--backends", nargs="+", help="sample: index.backend values to compare (default: auto)"
    )
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
        "sample": stage_sample,
        "incremental": stage_incremental,
        "search": stage_search,
        "hnsw": stage_hnsw,
        "ivf": stage_ivf,
        "full": stage_full,
        "answers": stage_answers,
    }
    stages[arguments.stage](arguments)
    print(f"peak RSS of this stage: {peak_rss_mb():.0f} MB; load average {os.getloadavg()[0]:.1f}")
