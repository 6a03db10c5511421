"""Embedding speed and quality of each backend, side by side in one run (issue 4, item 1).

Speed: the same long passages (SciFact abstracts of ~300 word pieces) embedded by plain
`SentenceTransformer.encode` (the naive baseline) and by our Embedder with each backend, the
variants taking turns on every slice of 32 passages so a busy machine slows them all alike.
Quality: SciFact nDCG@10 and Recall@10 with exact search for each backend.

    python bench/embed_speed.py                 # speed and quality, about 30 min on 2 cores
    python bench/embed_speed.py --no-quality    # speed only
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"
OUT = ROOT / "bench" / "out"
BACKENDS = ("torch", "onnx", "onnx-int8", "openvino")
sys.path.insert(0, str(ROOT))

from index.config import IndexConfig  # noqa: E402
from index.embedder import Embedder, model_cache_dir, resolve_model  # noqa: E402


def load_scifact() -> tuple[list[str], list[str], dict[str, str], dict[str, set[str]]]:
    """Doc ids, doc texts (title + " " + text), queries by id, relevant doc ids by query id."""
    ids, texts = [], []
    with gzip.open(SCIFACT / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            ids.append(record["_id"])
            texts.append(f"{record['title']} {record['text']}".strip())
    queries = {}
    for line in (SCIFACT / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        queries[record["_id"]] = record["text"]
    relevant: dict[str, set[str]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        if int(score) > 0:
            relevant.setdefault(query_id, set()).add(doc_id)
    return ids, texts, queries, relevant


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    """Binary-relevance nDCG@10."""
    gain = sum(1 / math.log2(rank + 2) for rank, d in enumerate(ranked[:10]) if d in relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(10, len(relevant))))
    return gain / ideal


def evaluate(
    doc_vectors: np.ndarray,
    query_vectors: np.ndarray,
    ids: list[str],
    query_ids: list[str],
    relevant: dict[str, set[str]],
) -> tuple[float, float]:
    """Mean nDCG@10 and Recall@10 of exact inner-product search."""
    top = np.argsort(-(query_vectors @ doc_vectors.T), axis=1)[:, :10]
    ndcgs, recalls = [], []
    for row, query_id in enumerate(query_ids):
        ranked = [ids[i] for i in top[row]]
        ndcgs.append(ndcg_at_10(ranked, relevant[query_id]))
        recalls.append(len(set(ranked) & relevant[query_id]) / len(relevant[query_id]))
    return float(np.mean(ndcgs)), float(np.mean(recalls))


def long_passages(texts: list[str], count: int, model_path: str) -> tuple[list[str], list[int]]:
    """`count` abstracts of 280-340 word pieces: the long passages the issue measured on."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    chosen, lengths = [], []
    for text in texts:
        pieces = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        if 280 <= pieces <= 340:
            chosen.append(text)
            lengths.append(pieces)
        if len(chosen) == count:
            break
    return chosen, lengths


_worker = None


def _start_worker(model_path: str, onnx_file: str) -> None:
    global _worker
    from index.onnx_backend import OnnxEncoder

    _worker = OnnxEncoder(Path(model_path), Path(onnx_file), threads=1)


def _encode_in_worker(texts: list[str]) -> np.ndarray:
    assert _worker is not None
    return _worker.encode(texts)


def speed_variants(
    passages_config: IndexConfig, stack: contextlib.ExitStack
) -> dict[str, Callable[[list[str]], object]]:
    """Each way of embedding a list of passages, by name; the first is the naive baseline.
    Our Embedders run inside `stack`'s bulk blocks: the many small slices of this benchmark are
    one job, as a build's chunk of 4,096 passages is."""
    from sentence_transformers import SentenceTransformer

    from index.onnx_backend import OnnxEncoder

    model_path = resolve_model(passages_config.model)
    naive = SentenceTransformer(model_path, device="cpu")
    embedders = {b: Embedder(passages_config.model_copy(update={"backend": b})) for b in BACKENDS}
    for embedder in embedders.values():
        stack.enter_context(embedder.bulk())
    int8_file = next(model_cache_dir(passages_config).glob("*-onnx-int8/model.onnx"))
    spinning = OnnxEncoder(Path(model_path), int8_file, spinning=True)
    pool = ProcessPoolExecutor(
        2,
        mp_context=get_context("spawn"),
        initializer=_start_worker,
        initargs=(model_path, str(int8_file)),
    )
    size = passages_config.batch_size

    def batches(texts: list[str]) -> list[list[str]]:
        return [texts[i : i + size] for i in range(0, len(texts), size)]

    variants: dict[str, Callable[[list[str]], object]] = {
        "naive: SentenceTransformer.encode (torch)": naive.encode
    }
    for backend in BACKENDS:
        variants[f"ours: Embedder backend={backend}"] = embedders[backend].embed_passages
    variants["onnx-int8, threads spin (onnxruntime's default)"] = lambda t: [
        spinning.encode(b) for b in batches(t)
    ]
    variants["onnx-int8, 2 processes x 1 thread"] = lambda t: list(
        pool.map(_encode_in_worker, batches(t))
    )
    return variants


def measure_speed(passages: list[str], rounds: int, index_config: IndexConfig) -> list[dict]:
    """Round-robin over small slices: every variant embeds each slice in turn, so a burst of
    load from other processes hits all variants alike. Rate = passages / summed seconds; the
    spread is the median and range of the per-slice ratios to the naive baseline."""
    with contextlib.ExitStack() as stack:
        variants = speed_variants(index_config, stack)
        for run in variants.values():  # warm-up, not counted
            run(passages[:8])
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        slice_size = 32
        for round_number in range(rounds):
            for begin in range(0, len(passages), slice_size):
                part = passages[begin : begin + slice_size]
                for name, run in variants.items():
                    started = time.perf_counter()
                    run(part)
                    seconds[name].append(time.perf_counter() - started)
            print(f"round {round_number + 1}/{rounds}, load average {os.getloadavg()[0]:.1f}")
    naive = np.asarray(seconds["naive: SentenceTransformer.encode (torch)"])
    rows = []
    for name, spent in seconds.items():
        ratios = naive / np.asarray(spent)
        rows.append(
            {
                "variant": name,
                "rate": rounds * len(passages) / sum(spent),
                "ratio": float(naive.sum() / sum(spent)),
                "slice_ratios": f"{np.median(ratios):.2f} "
                f"[{np.percentile(ratios, 10):.2f}-{np.percentile(ratios, 90):.2f}]",
            }
        )
    return rows


def measure_quality(index_config: IndexConfig) -> list[dict]:
    ids, texts, queries, relevant = load_scifact()
    query_ids = [q for q in queries if q in relevant]
    results = []
    for backend in ("torch", "onnx-int8", "onnx", "openvino"):
        cache = OUT / f"scifact-{backend}.npy"
        embedder = Embedder(index_config.model_copy(update={"backend": backend}))
        started = time.perf_counter()
        if cache.exists():
            doc_vectors = np.load(cache)
        else:
            doc_vectors = embedder.embed_passages(texts)
            np.save(cache, doc_vectors)
        seconds = time.perf_counter() - started
        query_vectors = np.stack([embedder.embed_query(queries[q]) for q in query_ids])
        ndcg, recall = evaluate(doc_vectors, query_vectors, ids, query_ids, relevant)
        results.append(
            {"backend": backend, "ndcg10": ndcg, "recall10": recall, "embed_seconds": seconds}
        )
        print(f"{backend}: nDCG@10 {ndcg:.4f}  Recall@10 {recall:.4f}")
    torch_vectors = np.load(OUT / "scifact-torch.npy")
    for result in results:
        other = np.load(OUT / f"scifact-{result['backend']}.npy")
        cosines = (other * torch_vectors).sum(axis=1)
        result["cos_to_torch_mean"], result["cos_to_torch_min"] = cosines.mean(), cosines.min()
    return results


def machine() -> str:
    import onnxruntime
    import torch

    cpuinfo = Path("/proc/cpuinfo").read_text()
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line]
    model = names[0] if names else platform.processor()
    vnni = "avx512_vnni" in cpuinfo
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{model}, {os.cpu_count()} cores{' (avx512_vnni)' if vnni else ''}, "
        f"{memory:.0f} GB; torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"onnxruntime {onnxruntime.__version__}; load average {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=192)
    parser.add_argument("--rounds", type=int, default=3, help="passes over all passages")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    index_config = IndexConfig(path=OUT / "index")
    print(machine())
    _, texts, _, _ = load_scifact()
    passages, lengths = long_passages(texts, args.passages, resolve_model(index_config.model))
    print(
        f"{len(passages)} passages, median {statistics.median(lengths):.0f} word pieces "
        f"(the model reads the first 256)"
    )
    if not args.no_speed:
        speed = measure_speed(passages, args.rounds, index_config)
        print(
            "\n| variant | passages/s | × naive | per-slice × naive: median [p10-p90] |"
            "\n|---|---:|---:|---|"
        )
        for row in speed:
            cells = [
                row["variant"],
                f"{row['rate']:.1f}",
                f"{row['ratio']:.2f}",
                row["slice_ratios"],
            ]
            print("| " + " | ".join(cells) + " |")
    if not args.no_quality:
        quality = measure_quality(index_config)
        print(
            "\n| backend | SciFact nDCG@10 | Recall@10 | cosine to torch (mean / min) |"
            "\n|---|---:|---:|---:|"
        )
        for row in quality:
            print(
                f"| {row['backend']} | {row['ndcg10']:.4f} | {row['recall10']:.4f} | "
                f"{row['cos_to_torch_mean']:.4f} / {row['cos_to_torch_min']:.4f} |"
            )
    print(f"\nend: load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
