"""Search and start-up at 1M passages for bench/scale.py (its `search` and `full` stages).

The 1M vectors are made from real ones. Real: every vector of the 10k build (onnx-int8
embeddings of recombined real sentences) and of the SciFact abstracts. Each further vector is a
real one moved by noise shaped like the real vectors' own covariance,
v' = normalize(v + ε·g / sqrt(trace Σ)), g ~ N(0, Σ), with ε chosen so that cos(v, v') equals
the median cosine between a real vector and its real nearest neighbour: a copy lies as far from
its original as real neighbours lie from each other, so no tight clusters of near-duplicates.
"""

from __future__ import annotations

import argparse
import json
import time

import faiss
import numpy as np

from bench.embed_speed import OUT as BENCH_OUT
from bench.embed_speed import load_scifact
from bench.scale import (
    OUT,
    index_config,
    peak_rss_mb,
    percentiles,
    rss_mb,
    save,
    table,
)
from index.dense import build_dense_index, default_nprobe, load_dense_index, save_dense_index
from index.embedder import Embedder

VECTORS_1M = OUT / "vectors-1m.npy"
# The backend the 1M vectors were measured with (the CPU default until openvino took over);
# questions are embedded with it too, so they search vectors of their own kind.
VECTORS_BACKEND = "onnx-int8"
EF_SEARCH = (16, 32, 48, 64, 96, 128, 192, 256)
EF_SEARCH_WIDE = (64, 128, 256, 384, 512, 768, 1024)
NPROBE = (8, 16, 32, 64, 128)
FLAT_SIZES = (10_000, 30_000, 100_000, 200_000, 300_000, 500_000, 1_000_000)


def real_vectors() -> np.ndarray:
    built = next((OUT / "index-10k" / "builds").glob("*/vectors.npy"))
    parts = [np.load(built)]
    scifact = BENCH_OUT / "scifact-onnx-int8.npy"
    if scifact.exists():
        parts.append(np.load(scifact))
    return np.concatenate(parts).astype(np.float32)


def query_vectors(count: int) -> np.ndarray:
    _, _, queries, relevant = load_scifact()
    embedder = Embedder(index_config(OUT / "index-10k", backend=VECTORS_BACKEND))
    texts = [queries[q] for q in queries if q in relevant][:count]
    return np.stack([embedder.embed_query(t) for t in texts])


def nearest_real_cosines(real: np.ndarray) -> np.ndarray:
    index = faiss.IndexFlatIP(real.shape[1])
    index.add(real)
    scores, _ = index.search(real, 2)
    return scores[:, 1]  # column 0 is the vector itself


def matching_epsilon(median_nearest_cosine: float) -> float:
    """The ε at which cos(v, v') comes out at the real vectors' median nearest-neighbour cosine."""
    return float(np.sqrt(1 / median_nearest_cosine**2 - 1))


class Perturbation:
    """v' = normalize(v + ε·g / sqrt(trace Σ)), g ~ N(0, Σ), Σ the real vectors' covariance."""

    def __init__(self, real: np.ndarray, epsilon: float, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        covariance = np.cov(real, rowvar=False)
        self.shape = np.linalg.cholesky(covariance + 1e-6 * np.eye(len(covariance))).T
        self.scale = epsilon / np.sqrt(np.trace(covariance))

    def apply(self, base: np.ndarray) -> np.ndarray:
        moved = base + self.scale * (self.rng.standard_normal(base.shape) @ self.shape)
        return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def extend(real: np.ndarray, total: int, epsilon: float, seed: int = 0) -> np.ndarray:
    """The first len(real) rows are the real vectors; the rest perturbed copies, in chunks."""
    perturbation = Perturbation(real, epsilon, seed)
    vectors = np.lib.format.open_memmap(VECTORS_1M, "w+", np.float32, (total, real.shape[1]))
    vectors[: len(real)] = real
    for begin in range(len(real), total, 100_000):
        end = min(total, begin + 100_000)
        vectors[begin:end] = perturbation.apply(real[np.arange(begin, end) % len(real)])
    vectors.flush()
    return vectors


def timed_searches(index: faiss.Index, queries: np.ndarray, k: int = 50) -> tuple[list, np.ndarray]:
    """One query at a time, as the bot searches: per-query seconds and the top-10 rows."""
    seconds, found = [], []
    for query in queries:
        started = time.perf_counter()
        _, rows = index.search(query.reshape(1, -1), k)
        seconds.append(time.perf_counter() - started)
        found.append(rows[0, :10])
    return seconds, np.stack(found)


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))


def stage_search(args: argparse.Namespace) -> None:
    (OUT / "search.json").unlink(missing_ok=True)  # the full stage waits for a new one
    real = real_vectors()
    queries = query_vectors(args.queries)
    nearest = nearest_real_cosines(real)
    median_nn = float(np.median(nearest))
    epsilon = matching_epsilon(median_nn)
    while not (OUT / "full-count.json").exists():  # the full stage counts corpus-1m's passages
        time.sleep(10)
    total = json.loads((OUT / "full-count.json").read_text())["passages"]
    started = time.perf_counter()
    vectors = extend(real, total, epsilon)
    copies = vectors[len(real) : len(real) + 20_000]
    sources = real[np.arange(len(real), len(real) + len(copies)) % len(real)]
    moved_cos = (copies * sources).sum(axis=1)
    result: dict = {
        "real_vectors": len(real),
        "total": total,
        "epsilon": epsilon,
        "real_nn_cos_median": median_nn,
        "real_nn_cos_p10_p90": np.percentile(nearest, [10, 90]).tolist(),
        "copy_cos_mean": float(moved_cos.mean()),
        "extend_seconds": time.perf_counter() - started,
    }
    print(json.dumps(result, indent=1))

    flat_rows, truth = [], None
    for size in FLAT_SIZES:
        if size > total:
            break
        flat = faiss.IndexFlatIP(vectors.shape[1])
        for begin in range(0, size, 100_000):
            flat.add(np.asarray(vectors[begin : min(size, begin + 100_000)]))
        seconds, found = timed_searches(flat, queries)
        p50, p95 = percentiles(seconds)
        flat_rows.append({"passages": size, "flat p50 ms": p50, "flat p95 ms": p95})
        del flat
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.asarray(vectors))
    _, truth = flat.search(queries, 10)
    seconds, _ = timed_searches(flat, queries)
    p50, p95 = percentiles(seconds)
    flat_rows.append({"passages": total, "flat p50 ms": p50, "flat p95 ms": p95})
    del flat
    table("exact (flat) search, one query at a time, k=50", flat_rows)
    result["flat"] = flat_rows

    result["hnsw"] = []
    for m in args.hnsw_m:
        config = index_config(OUT / "unused", hnsw_m=m, hnsw_ef_construction=args.ef_construction)
        started = time.perf_counter()
        before = rss_mb()
        index = build_dense_index(np.asarray(vectors), "hnsw", config)
        build_seconds = time.perf_counter() - started
        path = OUT / f"hnsw-1m-m{m}-efc{args.ef_construction}.faiss"
        save_dense_index(index, path)
        del index
        started = time.perf_counter()
        before = rss_mb()
        index = load_dense_index(path, config)
        load_seconds, memory = time.perf_counter() - started, rss_mb() - before
        rows = []
        for ef in EF_SEARCH:
            index.hnsw.efSearch = ef
            seconds, found = timed_searches(index, queries)
            p50, p95 = percentiles(seconds)
            rows.append(
                {
                    "M": m,
                    "efSearch": ef,
                    "recall@10": recall_at_10(found, truth),
                    "p50 ms": p50,
                    "p95 ms": p95,
                }
            )
        table(
            f"HNSW M={m} efConstruction={args.ef_construction}: built in {build_seconds:.0f}s, "
            f"file {path.stat().st_size / total:.0f} B/passage, loaded in {load_seconds:.1f}s "
            f"(+{memory:.0f} MB RSS)",
            rows,
        )
        result["hnsw"].append(
            {
                "M": m,
                "build_seconds": build_seconds,
                "load_seconds": load_seconds,
                "bytes_per_passage": path.stat().st_size / total,
                "rss_mb": memory,
                "sweep": rows,
            }
        )
        del index
    if args.ivf:
        result["ivf"] = measure_ivf(vectors, queries, truth)
    result["peak_rss_mb"] = peak_rss_mb()
    save("search", result)


def measure_ivf(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict:
    """IVF-Flat as index/dense.py builds it (nlist = 4·sqrt(n), trained on 64 per list): build
    time, then recall@10 against exact search and latency for each nprobe."""
    config = index_config(OUT / "unused")
    started = time.perf_counter()
    before = rss_mb()
    index = build_dense_index(np.asarray(vectors), "ivf", config)
    build_seconds, memory = time.perf_counter() - started, rss_mb() - before
    nprobe_when_loaded = default_nprobe(index.nlist)
    rows = []
    for nprobe in sorted({*NPROBE, nprobe_when_loaded}):
        index.nprobe = nprobe
        seconds, found = timed_searches(index, queries)
        p50, p95 = percentiles(seconds)
        rows.append(
            {
                "nlist": index.nlist,
                "nprobe": nprobe,
                "recall@10": recall_at_10(found, truth),
                "p50 ms": p50,
                "p95 ms": p95,
            }
        )
    table(
        f"IVF-Flat at {len(vectors):,}: built in {build_seconds:.0f}s (+{memory:.0f} MB RSS); "
        f"citebot's nprobe when loading: {nprobe_when_loaded}",
        rows,
    )
    return {"build_seconds": build_seconds, "nprobe_when_loaded": nprobe_when_loaded, "sweep": rows}


def saved_vectors_with_truth(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The search stage's 1M vectors, `count` query vectors and their exact top 10."""
    vectors = np.load(VECTORS_1M, mmap_mode="r")
    queries = query_vectors(count)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.asarray(vectors))
    _, truth = flat.search(queries, 10)
    return vectors, queries, truth


def stage_ivf(args: argparse.Namespace) -> None:
    """IVF-Flat on the search stage's 1M vectors, against exact search."""
    vectors, queries, truth = saved_vectors_with_truth(args.queries)
    save("ivf", measure_ivf(vectors, queries, truth) | {"peak_rss_mb": peak_rss_mb()})


def stage_hnsw(args: argparse.Namespace) -> None:
    """More HNSW settings on the search stage's 1M vectors: build (or reuse) and sweep efSearch."""
    vectors, queries, truth = saved_vectors_with_truth(args.queries)
    for m in args.hnsw_m:
        config = index_config(OUT / "unused", hnsw_m=m, hnsw_ef_construction=args.ef_construction)
        path = OUT / f"hnsw-1m-m{m}-efc{args.ef_construction}.faiss"
        build_seconds = None
        if not path.exists():
            started = time.perf_counter()
            save_dense_index(build_dense_index(np.asarray(vectors), "hnsw", config), path)
            build_seconds = time.perf_counter() - started
        started = time.perf_counter()
        index = load_dense_index(path, config)
        load_seconds = time.perf_counter() - started
        rows = []
        for ef in EF_SEARCH_WIDE:
            index.hnsw.efSearch = ef
            seconds, found = timed_searches(index, queries)
            p50, p95 = percentiles(seconds)
            recall = recall_at_10(found, truth)
            rows.append({"M": m, "efSearch": ef, "recall@10": recall, "p50 ms": p50, "p95 ms": p95})
        built = f"built in {build_seconds:.0f}s" if build_seconds else "reused"
        table(
            f"HNSW M={m} efConstruction={args.ef_construction} at {len(vectors):,}: {built}, "
            f"file {path.stat().st_size / len(vectors):.0f} B/passage, "
            f"loaded in {load_seconds:.1f}s",
            rows,
        )
        result = {"M": m, "efConstruction": args.ef_construction, "build_seconds": build_seconds}
        result |= {"load_seconds": load_seconds, "sweep": rows}
        save(f"hnsw-m{m}-efc{args.ef_construction}", result)
        del index


def stage_full(args: argparse.Namespace) -> None:
    """Assemble a complete 1M build with the store's own functions, then load it and answer."""
    from bench.scale_full import assemble_and_measure

    assemble_and_measure(args)
