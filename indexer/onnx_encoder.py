"""Embedding of single alerts through ONNX Runtime: the same model, less work per call.

On one thread of the two-core benchmark machine, one query embedding through
sentence-transformers took a median 14.4 ms, and 9.2 ms through ONNX Runtime with
the same model exported to ONNX. The vectors differed by at most 2e-7 in any
component (docs/BENCHMARKS.md, "Query embedding runtimes"). Batches of passages
stay on torch, which encoded 71 passages/s at batch 64 on two threads against 25
for ONNX Runtime.

Alerts and searches go through a copy of the export whose weights ONNX Runtime
quantized to int8, one scale per output channel: 4.0 against 9.2 ms per query on
one thread. Its vectors have a cosine similarity of 0.993 on average (0.990 at
the lowest, over 47 alert-like texts) to the float32 vectors of the same texts.
The stored passages keep their float32 vectors. With int8 queries no figure of
the evaluation tasks moved by more than 1.5 points (docs/EVALUATION.md, "Int8
query embedding").

The export runs once per model on each machine and is kept in a cache folder under
a fingerprint of the model's files and of the exporting versions; so is the int8
copy. Each is checked when it is made (the export against the torch model, the copy
against the export), and against the SHA-256 written beside it each time it is
reused. Any failure falls back: the copy to the export, the export to torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from indexer.lock import cache_lock

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# Increased when the exported graph changes, so older exports are not reused.
EXPORT_FORMAT = 1
# Largest difference of any vector component between the export and the torch
# model on the probe texts; the export is discarded beyond it.
TOLERANCE = 1e-4
# Texts the export is checked on: short, padded beside longer ones, and longer
# than the model's 256 tokens so truncation is compared too.
PROBE_TEXTS = (
    "KubePodCrashLooping",
    "disk usage above 90% on db-primary-2, writes failing with ENOSPC",
    "p99 latency of checkout-api doubled after deploy 2024-06-01 "
    + "connection pool exhausted while waiting for postgres; " * 40,
)
# Smallest cosine similarity, on the probe texts, between a vector of the int8
# copy and the export's vector of the same text. Below it the copy is discarded.
QUANTIZED_MIN_COSINE = 0.98
# Increased when the way the int8 copy is made changes.
QUANTIZE_FORMAT = 1
# An unfinished export older than this was left by a killed process: an export
# took 2 to 5 s on the benchmark machine.
STALE_PARTIAL_SECONDS = 3_600
# How long a process waits for another one that is exporting or quantizing the
# same model before it makes its own copy.
CACHE_LOCK_SECONDS = 120.0
MAX_ERROR_CHARS = 500
_MODEL_FILES = {".json", ".txt", ".safetensors", ".bin"}
_MODULES = (
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
)


def cache_folder() -> Path:
    """Return the folder for exported models: INCIDENT_CACHE, else the user cache."""
    configured = os.environ.get("INCIDENT_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "incident-recommender"


def exportable(model_path: Path) -> str | None:
    """Return why a model cannot be exported as one graph, or None when it can.

    The graph contains the transformer, mean pooling and normalisation, which is what
    the bundled all-MiniLM-L6-v2 is made of; other layouts stay on torch.
    """
    try:
        modules = json.loads((model_path / "modules.json").read_text("utf-8"))
        pooling = json.loads(
            (model_path / "1_Pooling" / "config.json").read_text("utf-8")
        )
        config = json.loads(
            (model_path / "sentence_bert_config.json").read_text("utf-8")
        )
    except (OSError, ValueError) as error:
        return f"model files unreadable ({error})"
    if tuple(module.get("type") for module in modules) != _MODULES:
        return "modules are not transformer, pooling and normalize"
    modes = {key: value for key, value in pooling.items() if key.startswith("pooling")}
    if (
        modes.get("pooling_mode_mean_tokens") is not True
        or sum(value is True for value in modes.values()) != 1
    ):
        return "pooling is not the mean of the tokens"
    if not isinstance(config.get("max_seq_length"), int):
        return "sentence_bert_config.json gives no max_seq_length"
    if config.get("do_lower_case"):
        return "the model lower-cases outside its tokenizer"
    return None


def fingerprint(model_path: Path) -> str:
    """Return a digest of the model's files and of the versions that export it."""
    import transformers

    digest = hashlib.sha256()
    versions = f"{EXPORT_FORMAT} {torch.__version__} {transformers.__version__}"
    digest.update(versions.encode())
    for path in sorted(model_path.rglob("*")):
        if path.is_file() and path.suffix in _MODEL_FILES:
            digest.update(str(path.relative_to(model_path)).encode())
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()[:24]


class OnnxEncoder:
    """Embeds texts with an exported model, normalised like the torch model's vectors.

    One session serves every thread: ONNX Runtime sessions may run concurrently,
    and run() releases the GIL, so a search's keyword side goes on meanwhile.
    """

    def __init__(self, path: Path, model_path: Path, quantized: bool = False) -> None:
        from transformers import AutoTokenizer

        self.path = path
        self.quantized = quantized
        self.tokenizer = AutoTokenizer.from_pretrained(
            str(model_path), local_files_only=True
        )
        config = json.loads(
            (model_path / "sentence_bert_config.json").read_text("utf-8")
        )
        self.max_length = int(config["max_seq_length"])
        self._session: Any = None
        self._threads = 0
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts; returns float32 vectors of shape (len(texts), dimension)."""
        # sentence-transformers strips each text before tokenizing it.
        encoded = self.tokenizer(
            [text.strip() for text in texts],
            padding=True,
            truncation="longest_first",
            max_length=self.max_length,
            return_tensors="np",
        )
        inputs = {
            name: np.asarray(encoded[name], dtype=np.int64)
            for name in self.tokenizer.model_input_names
        }
        return np.asarray(self._current_session().run(None, inputs)[0], np.float32)

    def check(self) -> OnnxEncoder:
        """Open the session now, so a damaged file fails here and not in a search."""
        self._current_session()
        return self

    def _current_session(self) -> Any:
        """Return a session with as many threads as torch uses (see threads.py)."""
        threads = torch.get_num_threads()
        if self._session is None or self._threads != threads:
            with self._lock:
                if self._session is None or self._threads != threads:
                    self._session = _session(self.path, threads)
                    self._threads = threads
        return self._session


def load_encoder(
    model_path: Path, torch_model: Any, cache: Path | None = None
) -> OnnxEncoder | None:
    """Return an encoder for the model, exporting it first if the cache lacks it.

    torch_model is called to get the loaded sentence-transformers model, only
    when an export is needed. Returns None, with the reason logged, when the
    model cannot be exported, ONNX Runtime is missing or the export disagrees
    with torch: embedding then stays on torch.
    """
    reason = exportable(model_path)
    if reason is not None:
        logger.info("query embedding stays on torch: %s", reason)
        return None
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        logger.warning(
            "query embedding stays on torch: onnxruntime is not installed "
            "(pip install onnxruntime onnx)"
        )
        return None

    folder = cache or cache_folder()
    problem = _folder_problem(folder)
    if problem is not None:
        logger.warning("query embedding stays on torch: %s", problem)
        return None
    _remove_stale_partials(folder)
    target = folder / f"embedding-{fingerprint(model_path)}.onnx"
    try:
        cached = _cached(target, model_path, quantized=False)
        if cached is not None:
            return cached
        with _making(target):
            # Another process may have made it while this one waited.
            cached = _cached(target, model_path, quantized=False)
            if cached is not None:
                return cached
            _export(torch_model(), model_path, target)
        return OnnxEncoder(target, model_path).check()
    except Exception as error:
        logger.warning(
            "query embedding stays on torch: the ONNX export in %s failed (%s: %s)",
            folder,
            type(error).__name__,
            _short(error),
        )
        return None


def load_quantized_encoder(
    model_path: Path, torch_model: Any, cache: Path | None = None
) -> OnnxEncoder | None:
    """Return an encoder of the int8 copy of the export, making the copy if needed.

    Falls back to the float32 export, with the reason logged, when the copy cannot
    be made or strays from the export. Returns None when there is no export either.
    """
    if exportable(model_path) is not None:
        return load_encoder(model_path, torch_model, cache)
    try:
        import onnxruntime
    except ImportError:
        return load_encoder(model_path, torch_model, cache)

    folder = cache or cache_folder()
    if _folder_problem(folder) is not None:
        return load_encoder(model_path, torch_model, cache)
    _remove_stale_partials(folder)
    tag = hashlib.sha256(
        f"{QUANTIZE_FORMAT} {onnxruntime.__version__}".encode()
    ).hexdigest()[:8]
    target = folder / f"embedding-{fingerprint(model_path)}-int8-{tag}.onnx"
    cached = _cached(target, model_path, quantized=True)
    if cached is not None:
        return cached

    exported = load_encoder(model_path, torch_model, cache)
    if exported is None:
        return None
    try:
        with _making(target):
            cached = _cached(target, model_path, quantized=True)
            if cached is not None:
                return cached
            _quantize(exported, model_path, target)
        return OnnxEncoder(target, model_path, quantized=True).check()
    except Exception as error:
        logger.warning(
            "alerts are embedded with the float32 export: its int8 copy in %s "
            "failed (%s: %s)",
            folder,
            type(error).__name__,
            _short(error),
        )
        return exported


def _quantize(exported: OnnxEncoder, model_path: Path, target: Path) -> None:
    """Write an int8 copy of the export to target, after checking it against it."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    started = time.perf_counter()
    handle, temporary = tempfile.mkstemp(
        prefix=target.name, suffix=".partial", dir=target.parent
    )
    os.close(handle)
    try:
        # Given a file, the quantizer writes a shape-inferred copy beside it, and a
        # killed process would leave that in the cache. Given the loaded graph, it
        # works in a temporary folder of its own.
        with _quiet_root_logger():
            quantize_dynamic(
                onnx.load(str(exported.path)),
                temporary,
                weight_type=QuantType.QInt8,
                per_channel=True,
            )

        copy = OnnxEncoder(Path(temporary), model_path)
        for batch in (list(PROBE_TEXTS), [PROBE_TEXTS[1]]):
            cosine = (copy.embed(batch) * exported.embed(batch)).sum(axis=1)
            if float(cosine.min()) < QUANTIZED_MIN_COSINE:
                raise ValueError(
                    f"int8 vectors reach a cosine similarity of only "
                    f"{float(cosine.min()):.3f} to the export's"
                )

        _install(Path(temporary), target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    logger.info(
        "made an int8 copy of the embedding model at %s in %.1f s",
        target,
        time.perf_counter() - started,
    )


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Hide the quantizer's advice, which it logs as a warning on the root logger.

    A filter on the root logger applies only to records logged on it directly, so
    the warnings of this package's loggers pass as before.
    """
    root = logging.getLogger()
    root.addFilter(_not_from_quantizer)
    try:
        yield
    finally:
        root.removeFilter(_not_from_quantizer)


def _not_from_quantizer(record: logging.LogRecord) -> bool:
    return "quantization" not in Path(record.pathname).parts


def _export(model: SentenceTransformer, model_path: Path, target: Path) -> None:
    """Export the model to target, check it against torch, then move it in place."""
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)

    first: Any = model[0]
    transformer = first.auto_model.eval()
    tokenizer = first.tokenizer
    names = list(tokenizer.model_input_names)
    sample = tokenizer(["disk full"], return_tensors="pt")
    handle, temporary = tempfile.mkstemp(
        prefix=target.name, suffix=".partial", dir=target.parent
    )
    os.close(handle)

    try:
        # The tracer warns about branches fixed at export; the probe texts below
        # check the graph on other lengths and batch sizes.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Graph(transformer, names),
                tuple(sample[name] for name in names),
                temporary,
                input_names=names,
                output_names=["embedding"],
                dynamic_axes={
                    **{name: {0: "texts", 1: "tokens"} for name in names},
                    "embedding": {0: "texts"},
                },
                opset_version=17,
                dynamo=False,
            )

        encoder = OnnxEncoder(Path(temporary), model_path)
        expected = model.encode(
            list(PROBE_TEXTS), normalize_embeddings=True, show_progress_bar=False
        )
        for batch in (list(PROBE_TEXTS), [PROBE_TEXTS[1]]):
            found = encoder.embed(batch)
            rows = expected[[PROBE_TEXTS.index(text) for text in batch]]
            difference = float(np.abs(found - rows).max())
            if difference > TOLERANCE:
                raise ValueError(
                    f"exported vectors differ from torch's by {difference:.2e}"
                )

        _install(Path(temporary), target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    logger.info(
        "exported the embedding model to %s in %.1f s",
        target,
        time.perf_counter() - started,
    )


def _cached(target: Path, model_path: Path, quantized: bool) -> OnnxEncoder | None:
    """Return an encoder of a file made earlier, or None when it must be made again.

    A missing file returns None quietly. A file that fails its digest check or
    does not load is logged, since it is about to be replaced.
    """
    if not target.is_file():
        return None
    try:
        _check_digest(target)
        return OnnxEncoder(target, model_path, quantized=quantized).check()
    except Exception as error:
        action = "quantizing" if quantized else "exporting"
        logger.warning("%s again: %s is unusable (%s)", action, target, _short(error))
        return None


@contextlib.contextmanager
def _making(target: Path) -> Iterator[None]:
    """Hold the lock of target's cache file while this process makes it."""
    lock = target.with_name(target.name + ".lock")
    with cache_lock(lock, CACHE_LOCK_SECONDS) as locked:
        if not locked:
            logger.warning(
                "another process has been making %s for %.0f s; making it here too",
                target,
                CACHE_LOCK_SECONDS,
            )
        yield


def _install(checked: Path, target: Path) -> None:
    """Move a checked file to target, its SHA-256 written beside target first."""
    os.chmod(checked, 0o644)
    _write_digest(checked, target)
    os.replace(checked, target)


def _digest_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _write_digest(exported: Path, target: Path) -> None:
    """Write the SHA-256 of the export beside the place it is moved to."""
    sidecar = _digest_path(target)
    temporary = sidecar.with_name(f"{sidecar.name}.{os.getpid()}.partial")
    try:
        temporary.write_text(_file_digest(exported) + "\n", encoding="ascii")
        os.replace(temporary, sidecar)
    finally:
        temporary.unlink(missing_ok=True)


def _check_digest(target: Path) -> None:
    """Raise ValueError unless the export matches the digest written with it.

    ONNX Runtime loads a file whose weights were overwritten without complaint,
    and its vectors are then wrong, so a cached export is checked before use.
    """
    sidecar = _digest_path(target)
    try:
        expected = sidecar.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"its digest file {sidecar} is unreadable ({error})") from None
    if _file_digest(target) != expected:
        raise ValueError(f"its SHA-256 differs from the one in {sidecar}")


def _folder_problem(folder: Path) -> str | None:
    """Return why folder cannot hold the exported models, or None when it can."""
    if folder.exists() and not folder.is_dir():
        return (
            f"the cache {folder} is a file, not a folder; point INCIDENT_CACHE at a "
            "folder"
        )
    return None


def _remove_stale_partials(folder: Path) -> None:
    """Delete unfinished files left by processes killed an hour or more ago.

    Runs on every load, not only when a file is made: once the export and its
    copy exist, no later process makes one, and a 90 MB leftover would stay.
    """
    cutoff = time.time() - STALE_PARTIAL_SECONDS
    try:
        leftovers = list(folder.glob("embedding-*.partial"))
    except OSError:
        return
    for path in leftovers:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue


def _short(error: BaseException) -> str:
    # Some torch errors print every weight tensor of the model, hundreds of KB.
    text = str(error)
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + " ..."


def _session(path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle pool threads would otherwise spin on the core where a search's keyword
    # side runs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"]
    )


class _Graph(torch.nn.Module):
    """The transformer, mean pooling over real tokens and L2 normalisation."""

    def __init__(self, transformer: Any, names: list[str]) -> None:
        super().__init__()
        self.transformer = transformer
        self.names = names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        inputs = dict(zip(self.names, tensors, strict=True))
        states = self.transformer(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2.0, dim=1)
