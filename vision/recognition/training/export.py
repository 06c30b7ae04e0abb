"""Keras embedder -> .tflite (float16 weights), checked against Keras with the LiteRT interpreter."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from vision.recognition.backends import EmbeddingModel

log = logging.getLogger(__name__)


class ExportMismatchError(RuntimeError):
    """The converted model's embeddings differ from the Keras model's beyond float16 rounding."""


def to_tflite(embedder: keras.Model, float16: bool = True) -> bytes:
    """Flatbuffer bytes; float16 halves the file and, dequantised at load, keeps float32 accuracy."""
    converter = tf.lite.TFLiteConverter.from_keras_model(embedder)
    if float16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def verify(flatbuffer: bytes, embedder: keras.Model, images: np.ndarray, min_cosine: float = 0.999) -> float:
    """Lowest cosine between Keras and LiteRT embeddings of `images` (N, S, S, 3); raises when below min_cosine."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(flatbuffer)
        model = EmbeddingModel(path, threads=1)
        lite = np.stack([model.embed(im[None].astype(np.float32)) for im in images])
    ref = embedder(images.astype(np.float32), training=False).numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    worst = float(np.min(np.sum(lite * ref, axis=1)))
    log.info("tflite vs keras: lowest cosine %.6f over %d images", worst, len(images))
    if worst < min_cosine:
        raise ExportMismatchError(f"tflite embeddings disagree with keras (cosine {worst:.4f} < {min_cosine})")
    return worst
