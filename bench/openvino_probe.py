"""Probe (issue 4, item 1): OpenVINO on both of citebot's ONNX exports, beside what ships.

Written before OpenVINO became the `openvino` backend (commit 0683d3a), which
bench/embed_speed.py now measures through the Embedder; this probe also tries the int8 export
(it does not load in OpenVINO) and calls OpenVINO directly, without citebot's Embedder:

    HF_HUB_OFFLINE=1 .venv/bin/python bench/openvino_probe.py

It embeds the same corpus-10k passages (bench/scale.py corpus) with naive
`SentenceTransformer.encode`, citebot's onnx-int8 Embedder backend, and OpenVINO running
citebot's fused fp32 ONNX export (and its int8 one), slices of 32 taken in turn, and prints
passages/s, the ratio to naive and the mean cosine to the torch vectors.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.embed_speed import machine  # noqa: E402
from index.embedder import resolve_model  # noqa: E402
from index.onnx_backend import OnnxEncoder, cached_model_file  # noqa: E402

CORPUS = ROOT / "bench" / "out" / "scale" / "corpus-10k"
MODEL_CACHE = ROOT / "bench" / "out" / "models"
SLICE, PASSAGES, ROUNDS = 32, 192, 2

Encode = Callable[[Sequence[str]], np.ndarray]


def openvino_encoder(onnx_file: Path, model_path: Path) -> Encode:
    import openvino
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    compiled = openvino.Core().compile_model(
        str(onnx_file), "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2}
    )
    names = [port.get_any_name() for port in compiled.inputs]

    def encode(texts: Sequence[str]) -> np.ndarray:
        tokens = tokenizer(
            list(texts), padding=True, truncation=True, max_length=256, return_tensors="np"
        )
        hidden = compiled({n: tokens[n].astype(np.int64) for n in names})[0]
        mask = tokens["attention_mask"][..., None].astype(np.float32)
        vectors = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return encode


def main() -> int:
    from sentence_transformers import SentenceTransformer

    model_path = Path(resolve_model("default"))
    with open(sorted(CORPUS.glob("*.jsonl"))[0], encoding="utf-8") as articles:
        texts = [json.loads(line)["text"] for line in itertools.islice(articles, PASSAGES)]
    naive = SentenceTransformer(str(model_path), device="cpu")
    encoders: dict[str, Encode] = {
        "naive: SentenceTransformer.encode (torch)": lambda batch: naive.encode(
            list(batch), batch_size=SLICE, normalize_embeddings=True
        ),
        "ours: onnx-int8 (onnxruntime)": OnnxEncoder(
            model_path, cached_model_file(model_path, "onnx-int8", MODEL_CACHE)
        ).encode,
    }
    for variant in ("onnx", "onnx-int8"):
        try:
            encoders[f"OpenVINO on the {variant} export"] = openvino_encoder(
                cached_model_file(model_path, variant, MODEL_CACHE), model_path
            )
        except Exception as error:  # a probe reports what does not load, and goes on
            print(f"OpenVINO on the {variant} export: does not load ({type(error).__name__})")
    print(machine())
    seconds = dict.fromkeys(encoders, 0.0)
    for _ in range(ROUNDS):
        for start in range(0, PASSAGES, SLICE):
            for name, encode in encoders.items():
                began = time.perf_counter()
                encode(texts[start : start + SLICE])
                seconds[name] += time.perf_counter() - began
    reference = np.asarray(next(iter(encoders.values()))(texts[:SLICE]))
    naive_seconds = next(iter(seconds.values()))
    print("| variant | passages/s | × naive | mean cosine to torch |\n|---|---:|---:|---:|")
    for name, encode in encoders.items():
        cosine = float(np.mean(np.sum(np.asarray(encode(texts[:SLICE])) * reference, axis=1)))
        print(
            f"| {name} | {ROUNDS * PASSAGES / seconds[name]:.1f} "
            f"| {naive_seconds / seconds[name]:.2f} | {cosine:.4f} |"
        )
    print(machine())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
