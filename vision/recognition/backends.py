"""TFLite interpreter backends behind one small interface, each with an availability check."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vision.recognition.errors import ModelLoadError, ModelShapeError, NoInterpreterError

log = logging.getLogger(__name__)

# Failures seen when a wheel is present but unusable (e.g. tflite-runtime 2.14 built against NumPy 1).
_IMPORT_FAILURES = (ImportError, AttributeError, RuntimeError, OSError)


@dataclass(frozen=True)
class InterpreterBackend:
    """A named way to build a TFLite interpreter from a module's `Interpreter` class."""

    name: str
    module: str

    def problem(self) -> str | None:
        """Why this backend cannot be used here, or None when it can."""
        try:
            self._interpreter_class()
        except _IMPORT_FAILURES as exc:
            return f"{self.module} not importable: {exc}"
        return None

    def _interpreter_class(self) -> Callable[..., Any]:
        return importlib.import_module(self.module).Interpreter

    def load(self, model_path: Path, threads: int) -> Any:
        """A ready (allocated) interpreter; raises ModelLoadError when the file is no usable model."""
        if not model_path.is_file():
            raise ModelLoadError(f"model file not found: {model_path}")
        try:
            cls = self._interpreter_class()
        except _IMPORT_FAILURES as exc:
            raise NoInterpreterError(f"{self.name}: {exc}") from exc
        try:
            interpreter = cls(model_path=str(model_path), num_threads=threads)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"cannot load {model_path} with {self.name}: {exc}") from exc
        return interpreter


# LiteRT first; tflite-runtime only as a fallback because old wheels crash on import under NumPy 2.
BACKENDS: tuple[InterpreterBackend, ...] = (
    InterpreterBackend("litert", "ai_edge_litert.interpreter"),
    InterpreterBackend("tflite-runtime", "tflite_runtime.interpreter"),
)


def backend_status(backends: Sequence[InterpreterBackend] = BACKENDS) -> dict[str, str | None]:
    """Backend name -> None when usable, else the reason it is not."""
    return {b.name: b.problem() for b in backends}


def pick_backend(name: str | None = None, backends: Sequence[InterpreterBackend] = BACKENDS) -> InterpreterBackend:
    """The named backend, or the first usable one; raises NoInterpreterError listing every reason."""
    candidates = [b for b in backends if name in (None, b.name)]
    if not candidates:
        raise NoInterpreterError(f"unknown interpreter backend {name!r} (known: {', '.join(b.name for b in backends)})")
    reasons = []
    for backend in candidates:
        problem = backend.problem()
        if problem is None:
            return backend
        reasons.append(f"{backend.name}: {problem}")
    raise NoInterpreterError("no TFLite interpreter usable (install ai-edge-litert): " + "; ".join(reasons))


class EmbeddingModel:
    """A TFLite model mapping one (1, S, S, 3) float32 RGB image to one (1, D) float32 embedding."""

    def __init__(
        self, model_path: Path, threads: int = 1, backend: str | None = None, input_size: int | None = None
    ) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.path = Path(model_path)
        self.threads = threads
        self.backend = pick_backend(backend)
        self._interpreter = self.backend.load(self.path, threads)
        inputs = self._interpreter.get_input_details()
        if input_size and len(inputs) == 1 and tuple(inputs[0]["shape"]) != (1, input_size, input_size, 3):
            # The network is fully convolutional: the same weights run at the size chosen on val.
            try:
                self._interpreter.resize_tensor_input(inputs[0]["index"], [1, input_size, input_size, 3])
                self._interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise ModelShapeError(f"{self.path}: cannot run at input size {input_size}: {exc}") from exc
            inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelShapeError(f"{self.path}: expected 1 input and 1 output, got {len(inputs)} and {len(outputs)}")
        shape_in, shape_out = tuple(int(v) for v in inputs[0]["shape"]), tuple(int(v) for v in outputs[0]["shape"])
        if len(shape_in) != 4 or shape_in[0] != 1 or shape_in[3] != 3 or shape_in[1] != shape_in[2] or shape_in[1] < 32:
            raise ModelShapeError(f"{self.path}: input shape {shape_in}, expected (1, S, S, 3) with S >= 32")
        if len(shape_out) != 2 or shape_out[0] != 1 or shape_out[1] < 8:
            raise ModelShapeError(f"{self.path}: output shape {shape_out}, expected (1, D) with D >= 8")
        if inputs[0]["dtype"] != np.float32 or outputs[0]["dtype"] != np.float32:
            raise ModelShapeError(f"{self.path}: expected float32 input and output")
        self.input_size = shape_in[1]
        self.embed_dim = shape_out[1]
        self._in, self._out = inputs[0]["index"], outputs[0]["index"]
        # One interpreter is not safe to invoke from two threads at once.
        self._lock = threading.Lock()
        log.info("loaded %s with %s (%d thread(s)), input %s, embedding %d", self.path, self.backend.name, threads,
                 shape_in, self.embed_dim)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """L2-normalised embedding (D,) of a (1, S, S, 3) float32 input."""
        with self._lock:
            self._interpreter.set_tensor(self._in, batch)
            self._interpreter.invoke()
            out = self._interpreter.get_tensor(self._out)[0].astype(np.float32, copy=True)
        norm = float(np.linalg.norm(out))
        return out / norm if norm > 0 else out
