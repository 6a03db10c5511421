"""Dev-set benchmark: what users see, by kind of question, over two corpora, beside today's code.

    HF_HUB_OFFLINE=1 python bench/evaluate_devset.py [--baseline REV] [--rounds 3] [--cold 3]
        [--build-sample 200] [--fresh] [--no-speed | --speed-only]

Everything goes through citebot's own code. The indexes of corpus/ and of the Wikinews corpus
(bench/devset_corpora.py) are built by CitebotService under bench/out/devset-index/ (reused
while the corpus and settings are unchanged; --fresh builds them again) and every row is
index.answering.answer_question with config.yaml or a variant of it. With --baseline, the same
questions go through that commit's `citebot ask --json -` (bench/baseline.py) on its own
indexes, and its build rate, cold `citebot ask` and `citebot serve` memory are measured beside
the working tree's in the same run. Prints markdown to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from bench.baseline import WORKING_TREE, Code, checkout  # noqa: E402
from bench.devset_calibration import calibration_section  # noqa: E402
from bench.devset_corpora import CORPORA, corpus_dir  # noqa: E402
from bench.devset_database import corpus_database  # noqa: E402
from bench.devset_scoring import (  # noqa: E402
    HEADER,
    Question,
    Scores,
    answer_from_json,
    quality_row,
    read_devset,
)
from bot.config import AppConfig, load_config  # noqa: E402
from index.answering import answer_question  # noqa: E402
from index.config import AnswerConfig, RetrievalConfig  # noqa: E402
from index.service import CitebotService  # noqa: E402

DEVSET = ROOT / "bench" / "devset.jsonl"
OUT = ROOT / "bench" / "out"


def code_state() -> str:
    """The commit measured, and which of citebot's own files differ from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else "?"

    dirty = git("status", "--porcelain", "--", "index", "bot", "config.yaml", "pyproject.toml")
    changed = [line[3:] for line in dirty.splitlines() if len(line) > 3]
    suffix = f" + uncommitted changes in {', '.join(changed)}" if changed else ""
    return f"citebot at commit {git('rev-parse', '--short', 'HEAD').strip()}{suffix}"


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def services(config: AppConfig, fresh: bool) -> dict[str, CitebotService]:
    """One service per corpus, its index built (or found unchanged) under bench/out."""
    made = {}
    for name in CORPORA:
        path = OUT / "devset-index" / name
        if fresh:
            shutil.rmtree(path, ignore_errors=True)
        corpus = config.corpus.model_copy(update={"path": corpus_dir(name), "max_file_mb": 100})
        index = config.index.model_copy(update={"path": path})
        database = corpus_database(config.database, index, config.passages, name)
        service = CitebotService(
            corpus, config.passages, index, config.retrieval, config.answer, database
        )
        started = time.perf_counter()
        report = service.rebuild()
        log(f"{name}: {report.passages} passages, {report.passages_embedded} embedded, "
            f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        made[name] = service
    return made


def evaluate(
    questions: list[Question],
    made: dict[str, CitebotService],
    retrieval: RetrievalConfig,
    answer: AnswerConfig,
) -> Scores:
    scores = Scores()
    for q in questions:
        service = made[q.corpus]
        scores.add(q, answer_question(q.text, service.live(), service.embedder, retrieval, answer))
    return scores


def evaluate_code(code: Code, questions: list[Question]) -> Scores:
    """The questions through another tree's `citebot ask --json -`, on its own indexes."""
    scores = Scores()
    for name in CORPORA:
        asked = [q for q in questions if q.corpus == name]
        index = OUT / "devset-index-baseline" / code.root.name / name
        done, seconds = code.run(["index"], corpus_dir(name), index)
        if done.returncode != 0:
            raise RuntimeError(f"{code.name}: index failed: {done.stderr[-800:]}")
        log(f"{code.name}: {name} index ready in {seconds:.0f} s")
        for q, answer in zip(
            asked, code.answers([q.text for q in asked], corpus_dir(name), index), strict=True
        ):
            scores.add(q, answer_from_json(answer))
    return scores


def misses(scores: Scores) -> str:
    """Every answerable question not answered at rank 1 and every unanswerable one answered."""
    rows = ["| id | kind | question | gold rank (snippet / passage) | top citation's snippet |",
            "|---|---|---|---|---|"]  # fmt: skip
    for q in scores.questions.values():
        answer = scores.answers[q.id]
        rank = scores.rank(q)
        if (q.answerable and rank == 1) or (not q.answerable and not answer.found):
            continue
        top = answer.citations[0].snippet[:110].replace("|", "/") + "…" if answer.citations else ""
        where = f"{rank or '–'} / {scores.rank(q, 'passage') or '–'}" if q.answerable else "–"
        text = q.text.replace("|", "/")
        rows.append(f"| {q.id} | {q.kind} | {text} | {where} | {top or '(refused)'} |")
    return "\n".join(rows)


def speed(
    questions: list[Question],
    made: dict[str, CitebotService],
    codes: list[Code],
    args: argparse.Namespace,
) -> list[str]:
    lines = ["### Speed and memory", ""]
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    latency = []
    for _ in range(args.rounds):
        for q in questions:
            latency.append(timed(lambda q=q: made[q.corpus].answer(q.text)) * 1000)
    lines += [
        f"In-process `CitebotService.answer`, {len(questions)} questions × {args.rounds} rounds "
        f"(both corpora, models warm; load average {load}): p50 **{percentile(latency, 50):.1f} "
        f"ms**, p95 **{percentile(latency, 95):.1f} ms**, max {max(latency):.1f} ms.",
        "",
        "| measure | " + " | ".join(code.name for code in codes) + " |",
        "|---|" + "---|" * len(codes),
    ]
    shipped, index_of = corpus_dir("corpus"), {c.name: OUT / "speed" / c.root.name for c in codes}
    sample = OUT / "speed" / f"sample-{args.build_sample}"
    _write_sample(sample, args.build_sample)
    builds: dict[str, list[float]] = {c.name: [] for c in codes}
    for _ in range(args.builds):  # interleaved, so load changes hit both alike
        for code in codes:
            builds[code.name].append(code.build_seconds(sample, index_of[code.name] / "sample"))
    passages = _passages(index_of[codes[0].name] / "sample")
    rates = {n: passages / statistics.median(s) for n, s in builds.items()}
    lines.append(
        f"| full build of {passages} passages ({args.build_sample} Wikinews articles), "
        f"`citebot index --full`, median of {args.builds} | "
        + " | ".join(f"{statistics.median(builds[c.name]):.1f} s ({rates[c.name]:.1f} passages/s, "
                     f"{rates[c.name] / rates[codes[-1].name]:.2f}×)" for c in codes)
        + " |"
    )  # fmt: skip
    cold: dict[str, list[float]] = {c.name: [] for c in codes}
    for code in codes:
        code.build_seconds(shipped, index_of[code.name] / "shipped")
    for _ in range(args.cold):
        for code in codes:
            done, seconds = code.run(
                ["ask", "--json", "who heads Roscosmos?"], shipped, index_of[code.name] / "shipped"
            )
            if done.returncode != 0:
                raise RuntimeError(f"{code.name}: ask failed: {done.stderr[-800:]}")
            cold[code.name].append(seconds)
    lines.append(
        f"| cold `citebot ask --json` (shipped corpus), median of {args.cold} | "
        + " | ".join(f"{statistics.median(cold[c.name]):.2f} s" for c in codes)
        + " |"
    )
    rss = {
        c.name: c.serve_rss_mb(shipped, index_of[c.name] / "shipped", "who heads Roscosmos?")
        for c in codes
    }
    lines.append(
        "| `citebot serve` resident memory after one answer (terminal chat, shipped corpus) | "
        + " | ".join(f"{rss[c.name]:.0f} MB" for c in codes)
        + " |"
    )
    return [*lines, ""]


def _write_sample(folder: Path, articles: int) -> None:
    """The first `articles` of each Wikinews language file, as a corpus of their own."""
    folder.mkdir(parents=True, exist_ok=True)
    for language in ("en", "ru"):
        lines = (corpus_dir("wikinews") / f"{language}.jsonl").read_text("utf-8").splitlines()
        target = folder / f"{language}.jsonl"
        text = "\n".join(lines[: articles // 2]) + "\n"
        if not target.exists() or target.read_text("utf-8") != text:
            target.write_text(text, "utf-8")


def _passages(index: Path) -> int:
    import json

    manifest = json.loads((index / "current" / "manifest.json").read_text())
    return int(manifest["passage_count"])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", help="a commit to measure beside the working tree")
    parser.add_argument("--rounds", type=int, default=3, help="latency rounds over all questions")
    parser.add_argument("--builds", type=int, default=2, help="side-by-side builds to time")
    parser.add_argument("--cold", type=int, default=3, help="cold `citebot ask` runs each")
    parser.add_argument("--build-sample", type=int, default=200, help="Wikinews articles")
    parser.add_argument("--fresh", action="store_true", help="build the indexes again")
    parser.add_argument("--no-speed", action="store_true", help="quality only")
    parser.add_argument(
        "--speed-only", action="store_true", help="speed and memory only (on a quiet machine)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)

    config = load_config(ROOT / "config.yaml")
    questions = read_devset(DEVSET)
    made = services(config, args.fresh)
    if args.speed_only:
        codes = [WORKING_TREE]
        if args.baseline:
            codes.insert(0, Code(f"today ({args.baseline})", checkout(args.baseline)))
        print(f"Measured on {code_state()}.\n")
        print("\n".join(speed(questions, made, codes, args)))
        return 0
    print("## Dev set (bench/devset.jsonl)\n")
    store = "PostgreSQL (database.url)" if config.database.url else "local files"
    print(f"Measured on {code_state()}, index store: {store}.\n")
    kinds = {kind: 0 for kind in dict.fromkeys(q.kind for q in questions)}
    for q in questions:
        kinds[q.kind] += 1
    print(
        f"{len(questions)} questions ({', '.join(f'{v} {k}' for k, v in kinds.items())}) over "
        f"{', '.join(f'`{n}` ({made[n].info().passages} passages)' for n in CORPORA)}. "
        "Scored on the snippets users see, **gold phrase only**: hit@k is 1 when the gold phrase "
        "is inside the snippet of one of the first k citations. A refused answerable question "
        "is a miss; near- and off-topic questions pass when refused.\n"
    )
    retrieval, answer = config.retrieval, config.answer
    english_only = retrieval.model_copy(
        update={"multilingual_weight": 0.0, "multilingual_sentence_weight": 0.0}
    )
    rows: dict[str, Scores] = {
        "final answerer (config.yaml)": evaluate(questions, made, retrieval, answer),
        "without the multilingual lists": evaluate(questions, made, english_only, answer),
    }
    codes = [WORKING_TREE]
    if args.baseline:
        code = Code(f"today ({args.baseline})", checkout(args.baseline))
        codes.insert(0, code)
        log(f"baseline {code.root}…")
        rows[f"today's citebot ({args.baseline}), `citebot ask --json -`"] = evaluate_code(
            code, questions
        )
    print(HEADER)
    for name, scores in rows.items():
        print(quality_row(name, scores))
    print()
    final = rows["final answerer (config.yaml)"]
    english = [q for q in questions if q.lang == "en" and q.kind in ("factual", "paraphrase")]
    same_language = ("factual", "paraphrase")
    figures = [
        f"{name}: {s.hit(1, same_language, 'en'):.3f} / {s.hit(3, same_language, 'en'):.3f}"
        for name, s in rows.items()
    ]
    print(f"English questions on English text ({len(english)}), hit@1 / hit@3: "
          + "; ".join(figures) + ".\n")  # fmt: skip
    print("### Refusal calibration\n")
    print(calibration_section(questions, made, config))
    print()
    print("### Misses of the final answerer\n")
    print(misses(final))
    print()
    if not args.no_speed:
        print("\n".join(speed(questions, made, codes, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
