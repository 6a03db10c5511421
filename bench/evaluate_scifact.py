"""SciFact (BEIR test split) through citebot's own index: nDCG@10 and Recall@10 for BM25, dense,
hybrid RRF and the final retriever.

    HF_HUB_OFFLINE=1 python bench/evaluate_scifact.py [--mode passages|whole|both] [--rebuild]
        [--database-url postgresql://...]   # the CLI also on the database store, side by side

The 5,183 abstracts are written as one .jsonl corpus (`id` = BEIR `_id`, `title`, `text`) and
indexed by index.builder.build_index with the model of config.yaml, so the text that is embedded
and BM25-indexed is exactly what citebot indexes: title + "\\n" + passage. Two ways to index:

* `passages` — the shipped passage settings (sentence passages of 60–150 words): what citebot
  does with any article. A document's score is its best passage's (the first time the document
  appears in a ranking of passages).
* `whole` — one passage per abstract (passages.max_words raised above any abstract), which is
  how BEIR/MTEB score SciFact, so the numbers compare with the published ones.

Rankings all come from LoadedIndex.search: fusion="bm25" (bm25s + English Snowball stemmer +
English stop words, index.lexical), fusion="dense" (our Embedder, exact faiss inner product),
fusion="rrf" as shipped ("final retriever": what answer_question ranks with). "hybrid RRF" fuses
the BM25 and dense *document* rankings with index.fusion.reciprocal_rank_fusion (k = 60).

The index lives under bench/out/scifact/<model>-<mode>/ (gitignored). A rerun finds the corpus
unchanged and reuses the published build (citebot's incremental build), so it takes seconds;
--rebuild forces a full one. nDCG@10 is computed here (binary relevance,
DCG = Σ rel_i / log2(i + 1), ideal DCG from min(|relevant|, 10) hits). Prints markdown.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import math
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SCIFACT_DIR", ROOT.parent / "shared" / "bench" / "scifact"))
OUT = ROOT / "bench" / "out" / "scifact"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(ROOT))

from bench.evaluate_devset import code_state, log  # noqa: E402
from bot.config import load_config  # noqa: E402
from index.builder import build_index  # noqa: E402
from index.config import CorpusConfig, IndexConfig, PassageConfig, RetrievalConfig  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.fusion import reciprocal_rank_fusion  # noqa: E402
from index.models import BuildProgress  # noqa: E402
from index.retriever import LoadedIndex, Query  # noqa: E402

K = 10
PUBLISHED = {  # from /work/shared/bench/scifact/README.md (measured on these files; MTEB)
    "dense": "0.6451 / 0.7833 (MTEB 0.64508 / 0.78333)",
    "bm25": "0.6863 / 0.8187 (MTEB bm25s 0.68736 / 0.81867)",
}
TARGET_HYBRID = 0.716  # issue 4: stemmed bm25s + MiniLM through RRF
FINAL = "final retriever (LoadedIndex.search, config.yaml as shipped)"
HYBRID = "hybrid RRF (document rankings, k=60)"


# ---------------------------------------------------------------- metrics


def ndcg_at_k(ranking: Sequence[str], relevant: set[str], k: int = K) -> float:
    """Binary-relevance nDCG@k: Σ_{i≤k} rel_i / log2(i + 1) over the ideal ordering's DCG."""
    dcg = sum(1.0 / math.log2(i + 2) for i, doc in enumerate(ranking[:k]) if doc in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def recall_at_k(ranking: Sequence[str], relevant: set[str], k: int = K) -> float:
    return len(set(ranking[:k]) & relevant) / len(relevant) if relevant else 0.0


def _check_metrics() -> None:
    """Hand-computed cases, so the formula is not just trusted."""
    assert ndcg_at_k(["a", "b"], {"a"}) == 1.0
    assert abs(ndcg_at_k(["x", "a"], {"a"}) - 1 / math.log2(3)) < 1e-12
    both = (1 / math.log2(2) + 1 / math.log2(4)) / (1 / math.log2(2) + 1 / math.log2(3))
    assert abs(ndcg_at_k(["a", "x", "b"], {"a", "b"}) - both) < 1e-12
    assert ndcg_at_k(["x"] * 10 + ["a"], {"a"}) == 0.0  # rank 11 is outside the cut
    assert recall_at_k(["a", "x"], {"a", "b"}) == 0.5


# ---------------------------------------------------------------- data


def read_scifact() -> tuple[list[dict], dict[str, str], dict[str, set[str]]]:
    with gzip.open(DATA / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        corpus = [json.loads(line) for line in handle if line.strip()]
    queries = {}
    for line in (DATA / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            queries[row["_id"]] = row["text"]
    qrels: dict[str, set[str]] = defaultdict(set)
    lines = (DATA / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        query_id, doc_id, score = line.split("\t")
        if int(score) > 0:
            qrels[query_id].add(doc_id)
    return corpus, {q: queries[q] for q in qrels}, dict(qrels)


def write_corpus(corpus: list[dict], path: Path) -> None:
    """One article per line, in citebot's .jsonl format; rewritten only if it would change."""
    lines = [
        json.dumps({"id": d["_id"], "title": d["title"], "text": d["text"]}, ensure_ascii=False)
        for d in corpus
    ]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def slug(text: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[-40:]
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


# ---------------------------------------------------------------- retrieval


def backend_of(index: IndexConfig) -> str:
    """The embedding backend a config resolves to (older code had only torch)."""
    try:
        from index.embedder import resolve_backend
    except ImportError:
        return "torch"
    return resolve_backend(index)


def index_settings(config: object, backend: str | None) -> IndexConfig:
    """config.yaml's index section, with another backend if asked for and a shared export cache."""
    index: IndexConfig = config.index  # type: ignore[attr-defined]
    update: dict[str, object] = {}
    if backend is not None:
        if "backend" not in IndexConfig.model_fields:
            raise SystemExit("this version of citebot has no index.backend setting")
        update["backend"] = backend
    if "model_cache" in IndexConfig.model_fields and getattr(index, "model_cache", None) is None:
        update["model_cache"] = OUT / "models"
    return index.model_copy(update=update)


def doc_ranking(index: LoadedIndex, hits: Sequence) -> list[str]:
    """Passage hits (best first) → documents in order of their best passage."""
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(index.passage(hit.row)["doc_id"], None)
    return list(seen)


def rrf_documents(rankings: Sequence[list[str]], k: int = 60) -> list[str]:
    ids = sorted({d for r in rankings for d in r})
    number = {d: i for i, d in enumerate(ids)}
    fused = reciprocal_rank_fusion(
        [[(number[d], 0.0) for d in r] for r in rankings], [1.0] * len(rankings), k
    )
    return [ids[row] for row, _ in fused]


def cli_rankings(
    index_config: IndexConfig,
    corpus_dir: Path,
    queries: dict[str, str],
    database_url: str | None = None,
) -> tuple[dict[str, list[str]], float]:
    """Every query through `citebot ask --json -` (one process, one question per line), as a
    user's script would ask: the cited articles in citation order, and the wall time. With
    `database_url`, the CLI reads the index from that database (database.url)."""
    exe = Path(sys.executable).with_name("citebot")
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        CITEBOT_CORPUS__PATH=str(corpus_dir),
        CITEBOT_CORPUS__MAX_FILE_MB="100",
        CITEBOT_INDEX__PATH=str(index_config.path),
    )
    if index_config.model_cache is not None:
        env["CITEBOT_INDEX__MODEL_CACHE"] = str(index_config.model_cache)
    env.pop("CITEBOT_DATABASE__URL", None)
    if database_url is not None:
        env["CITEBOT_DATABASE__URL"] = database_url
    ids = list(queries)
    started = time.perf_counter()
    done = subprocess.run(
        [str(exe) if exe.exists() else "citebot", "ask", "--json", "-"],
        input="".join(queries[q].replace("\n", " ") + "\n" for q in ids),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"citebot ask failed ({done.returncode}): {done.stderr[-800:]}")
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if len(answers) != len(ids):
        raise RuntimeError(f"{len(answers)} answers to {len(ids)} questions")
    rankings = {}
    for query_id, answer in zip(ids, answers, strict=True):
        cited = dict.fromkeys(c["doc_id"] for c in answer["citations"])
        rankings[query_id] = list(cited)
    return rankings, seconds


def database_copy(index_config: IndexConfig, server_url: str, name: str) -> str:
    """A fresh database on that server holding a copy of the published local build (the code of
    `citebot migrate --to-database`: nothing embedded again); returns its URL."""
    from bench.pg_store_figures import fresh_database
    from index.config import DatabaseConfig
    from index.database import close_pools
    from index.pg_migrate import copy_local_index

    url = fresh_database(server_url, name)
    local = LoadedIndex.open_current(index_config, verify_checksums=False)
    copy_local_index(local, index_config, DatabaseConfig(url=url))
    close_pools()
    return url


def mrr_at_k(ranking: Sequence[str], relevant: set[str], k: int) -> float:
    return next((1.0 / (i + 1) for i, doc in enumerate(ranking[:k]) if doc in relevant), 0.0)


def evaluate_mode(
    mode: str,
    corpus: list[dict],
    queries: dict[str, str],
    qrels: dict[str, set[str]],
    config: object,
    get_embedder: Callable[[], Embedder],
    rebuild: bool,
    database_url: str | None = None,
) -> list[str]:
    base: PassageConfig = config.passages  # type: ignore[attr-defined]
    passages = (
        base
        if mode == "passages"
        else PassageConfig(min_words=1, max_words=1_000_000, overlap_sentences=0)
    )
    index_setting: IndexConfig = config.index  # type: ignore[attr-defined]
    work = OUT / f"{slug(index_setting.model + '|' + backend_of(index_setting))}-{mode}"
    corpus_dir = work / "corpus"
    write_corpus(corpus, corpus_dir / "scifact.jsonl")
    index_config = index_setting.model_copy(update={"path": work / "index"})
    corpus_config = CorpusConfig(path=corpus_dir, max_file_mb=100)

    last_log = [0.0]

    def progress(p: BuildProgress) -> None:
        now = time.monotonic()
        if p.stage == "embedding" and p.passages_to_embed and now - last_log[0] > 15:
            last_log[0] = now
            log(f"  [{mode}] embedded {p.passages_embedded}/{p.passages_to_embed}")

    report_file = work / "build_report.json"
    started = time.perf_counter()
    report = build_index(corpus_config, passages, index_config, get_embedder, progress, rebuild)
    seconds = time.perf_counter() - started
    if report.passages_embedded:  # a real build: remember its speed for cached reruns
        report_file.write_text(
            json.dumps(
                {
                    "passages": report.passages,
                    "embedded": report.passages_embedded,
                    "seconds": round(seconds, 2),
                    "built_at": time.strftime("%Y-%m-%d %H:%M:%S"),
                }
            )
        )
    built = json.loads(report_file.read_text()) if report_file.exists() else None
    index = LoadedIndex.open_current(index_config, verify_checksums=False)
    embedder = get_embedder()
    retrieval: RetrievalConfig = config.retrieval  # type: ignore[attr-defined]

    runs: dict[str, dict[str, list[str]]] = defaultdict(dict)
    variants = {
        "BM25 (bm25s, stemmed; fusion=bm25)": retrieval.model_copy(update={"fusion": "bm25"}),
        "dense (MiniLM, exact faiss; fusion=dense)": retrieval.model_copy(
            update={"fusion": "dense"}
        ),
        FINAL: retrieval,
        **{
            f"final, {label}": retrieval.model_copy(update=change)
            for label, change in (
                ("RRF k=10", {"rrf_k": 10}),
                ("RRF k=60", {"rrf_k": 60}),
                ("dense 2 : BM25 1 : sentences 1", {"dense_weight": 2.0}),
                ("dense 1 : BM25 2 : sentences 1", {"bm25_weight": 2.0}),
                ("dense 1 : BM25 1 : sentences 2", {"sentence_weight": 2.0}),
                ("no sentence list", {"sentence_weight": 0.0}),
                (
                    "no multilingual lists",
                    {"multilingual_weight": 0.0, "multilingual_sentence_weight": 0.0},
                ),
                ("candidates=50", {"candidates": 50}),
            )
        },
    }
    short_lists = 0
    query_seconds = []
    for query_id, text in queries.items():
        t0 = time.perf_counter()
        query = Query.of(text, embedder)
        for name, setting in variants.items():
            runs[name][query_id] = doc_ranking(index, index.search(query, setting))
        query_seconds.append(time.perf_counter() - t0)
        bm25_docs = runs["BM25 (bm25s, stemmed; fusion=bm25)"][query_id]
        dense_docs = runs["dense (MiniLM, exact faiss; fusion=dense)"][query_id]
        runs[HYBRID][query_id] = rrf_documents([bm25_docs, dense_docs])
        short_lists += len(runs[FINAL][query_id]) < K

    order = [*list(variants)[:2], HYBRID, *list(variants)[2:]]
    scores = {
        name: (
            sum(ndcg_at_k(runs[name][q], qrels[q]) for q in queries) / len(queries),
            sum(recall_at_k(runs[name][q], qrels[q]) for q in queries) / len(queries),
        )
        for name in order
    }
    lines = [
        f"### SciFact, mode `{mode}`: {len(index.articles)} abstracts → {len(index.passages)} "
        f"passages (passage settings {passages.model_dump()})",
        "",
    ]
    if built:
        lines.append(
            f"Index build (first run, {built['built_at']}): {built['embedded']} passages embedded "
            f"in {built['seconds']:.0f} s ({built['embedded'] / built['seconds']:.1f} passages/s, "
            f"includes model load). This run: {seconds:.1f} s "
            f"({'reused the cached build' if not report.passages_embedded else 'built'})."
        )
        lines.append("")
    lines += [
        f"{len(queries)} queries, retrieval {retrieval.model_dump()}; queries whose final "
        f"ranking has fewer than {K} documents: {short_lists}. Per query (embed + all searches): "
        f"median {sorted(query_seconds)[len(query_seconds) // 2] * 1000:.0f} ms.",
        "",
        "| retriever | nDCG@10 | Recall@10 | published (README) nDCG@10 / R@10 |",
        "|---|---|---|---|",
    ]
    for name in order:
        ndcg, recall = scores[name]
        published = ""
        if mode == "whole" and name.startswith("BM25"):
            published = PUBLISHED["bm25"]
        elif mode == "whole" and name.startswith("dense"):
            published = PUBLISHED["dense"]
        lines.append(f"| {name} | {ndcg:.4f} | {recall:.4f} | {published} |")
    bm25 = scores[order[0]][0]
    dense = scores[order[1]][0]
    lines.append("")
    if mode == "passages":
        log("  through `citebot ask --json -`…")
        cli, cli_seconds = cli_rankings(index_config, corpus_dir, queries)
        answered = sum(bool(r) for r in cli.values())
        recall3 = sum(recall_at_k(cli[q], qrels[q], 3) for q in queries) / len(queries)
        mrr5 = sum(mrr_at_k(cli[q], qrels[q], 5) for q in queries) / len(queries)
        same3 = sum(recall_at_k(runs[FINAL][q], qrels[q], 3) for q in queries) / len(queries)
        same_mrr = sum(mrr_at_k(runs[FINAL][q], qrels[q], 5) for q in queries) / len(queries)
        lines += [
            f"Through the CLI (`citebot ask --json -`, config.yaml as shipped, every query on "
            f"stdin, {cli_seconds:.0f} s): the cited articles in citation order "
            f"({answered}/{len(queries)} questions answered, the rest refused):",
            "",
            "| ranking | Recall@3 | MRR@5 |",
            "|---|---|---|",
            f"| `citebot ask --json -` citations | {recall3:.4f} | {mrr5:.4f} |",
        ]
        if database_url is not None:
            log("  the same through the database store…")
            url = database_copy(index_config, database_url, f"scifact_{mode}")
            pg, pg_seconds = cli_rankings(index_config, corpus_dir, queries, url)
            pg3 = sum(recall_at_k(pg[q], qrels[q], 3) for q in queries) / len(queries)
            pg5 = sum(mrr_at_k(pg[q], qrels[q], 5) for q in queries) / len(queries)
            same = sum(pg[q] == cli[q] for q in queries)
            lines.append(
                f"| the same, index in PostgreSQL (database.url; {pg_seconds:.0f} s; "
                f"{same}/{len(queries)} citation lists identical) | {pg3:.4f} | {pg5:.4f} |"
            )
        lines += [f"| {FINAL}, documents | {same3:.4f} | {same_mrr:.4f} |", ""]
    for name in (order[2], order[3]):
        value = scores[name][0]
        lines.append(
            f"- {name}: {value:.4f} — "
            f"{'beats' if value > max(bm25, dense) else 'does NOT beat'} both parts "
            f"(BM25 {bm25:.4f}, dense {dense:.4f}); "
            f"{'reaches' if value >= TARGET_HYBRID else 'below'} the issue's {TARGET_HYBRID}."
        )
    top = max(order[2:], key=lambda name: scores[name][0])
    lines.append(f"- best fused variant: {top}: {scores[top][0]:.4f} / {scores[top][1]:.4f}.")
    lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["passages", "whole", "both"], default="both")
    parser.add_argument("--rebuild", action="store_true", help="embed everything again")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (postgresql://...): the CLI runs again on a copy of the index "
        "in a database of it, beside the local files",
    )
    parser.add_argument(
        "--backend",
        help="index.backend to use (torch, onnx, onnx-int8, openvino; default: config.yaml)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    _check_metrics()

    config = load_config(ROOT / "config.yaml")
    config = config.model_copy(update={"index": index_settings(config, args.backend)})
    corpus, queries, qrels = read_scifact()
    log(
        f"SciFact: {len(corpus)} abstracts, {len(queries)} queries, "
        f"{sum(len(v) for v in qrels.values())} judgments"
    )
    embedder: list[Embedder] = []

    def get_embedder() -> Embedder:
        if not embedder:
            embedder.append(Embedder(config.index))
        return embedder[0]

    print("## SciFact (BEIR test split) through citebot's index\n")
    print(f"Measured on {code_state()}.\n")
    print(
        f"Model `{config.index.model}`, embedding backend `{backend_of(config.index)}`; "
        f"metrics nDCG@{K} (binary relevance) and Recall@{K}, "
        f"mean over {len(queries)} queries.\n"
    )
    modes = ["passages", "whole"] if args.mode == "both" else [args.mode]
    for mode in modes:
        log(f"mode {mode}…")
        print(
            "\n".join(
                evaluate_mode(
                    mode,
                    corpus,
                    queries,
                    qrels,
                    config,
                    get_embedder,
                    args.rebuild,
                    args.database_url,
                )
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
