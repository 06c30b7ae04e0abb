"""Within-class covariance normalisation (WCCN): a linear map of the embedding, fitted on training photos, that
shrinks the directions in which photos of one product vary and so sharpens cosine ranking.

The map belongs to the model (it is fitted on the model's embeddings of the training photos, not on any enrolled
product), so products enrolled later from a few photos are compared in the same space. It also magnifies directions
that product photos rarely use, where a frame of no product at all (a wall, sensor noise) lands closer to some
product than in the network's own space; so "is this a product?" is still decided there, against prototypes mapped
back through the inverse (`network_space`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from vision.recognition.errors import ModelLoadError, ModelShapeError

# Larger than any sensible whitening gain; a bigger entry means a corrupt or hostile file.
_MAX_ENTRY = 1e4


def fit_wccn(embeddings: np.ndarray, labels: np.ndarray, shrinkage: float) -> np.ndarray:
    """(D, D) map W = (S_w + shrinkage * mean eigenvalue * I)^(-1/2), S_w the within-class covariance of unit
    embeddings (N, D) with class labels (N,); shrinkage > 0 keeps rarely seen directions from being blown up."""
    x = np.asarray(embeddings, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need (N, D) embeddings with N labels, got {x.shape} and {y.shape}")
    if shrinkage <= 0:
        raise ValueError("shrinkage must be positive")
    classes, index = np.unique(y, return_inverse=True)
    if len(classes) == len(x):
        raise ValueError("every class has one embedding: no within-class variation to measure")
    means = np.zeros((len(classes), x.shape[1]))
    np.add.at(means, index, x)
    means /= np.bincount(index)[:, None]
    residual = x - means[index]
    scatter = residual.T @ residual / len(x)
    values, vectors = np.linalg.eigh(scatter)
    values = np.clip(values, 0.0, None)
    ridge = shrinkage * max(float(values.mean()), 1e-12)
    return ((vectors / np.sqrt(values + ridge)) @ vectors.T).astype(np.float32)


def project(embedding: np.ndarray, matrix: np.ndarray | None) -> np.ndarray:
    """Unit embedding(s) (D,) or (N, D) mapped through the projection and normalised again; None: unchanged."""
    if matrix is None:
        return embedding
    out = embedding @ matrix
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32)


def save_projection(path: Path, matrix: np.ndarray) -> None:
    """Write the map as a plain .npy (no pickles)."""
    np.save(path, np.asarray(matrix, dtype=np.float32), allow_pickle=False)


def load_projection(path: Path, embed_dim: int) -> np.ndarray:
    """Read and check a projection file; ModelLoadError when unreadable, ModelShapeError when it does not fit."""
    try:
        matrix = np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"projection file not found: {path}") from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(f"unreadable projection file {path}: {exc}") from exc
    if not isinstance(matrix, np.ndarray) or matrix.dtype.kind != "f":
        raise ModelShapeError(f"{path}: projection must be a float matrix")
    if matrix.shape != (embed_dim, embed_dim):
        raise ModelShapeError(f"{path}: projection has shape {matrix.shape}, the model gives {embed_dim}-d embeddings")
    if not np.all(np.isfinite(matrix)) or float(np.abs(matrix).max(initial=0.0)) > _MAX_ENTRY:
        raise ModelShapeError(f"{path}: projection holds NaN, infinite or absurdly large values")
    if not np.any(matrix):
        raise ModelShapeError(f"{path}: projection is all zeros")
    if np.linalg.matrix_rank(matrix) < embed_dim:
        raise ModelShapeError(f"{path}: projection is singular")
    return matrix.astype(np.float32)


def inverse(matrix: np.ndarray) -> np.ndarray:
    """The inverse map (a WCCN matrix is symmetric positive definite, so it has one)."""
    try:
        return np.linalg.inv(matrix.astype(np.float64)).astype(np.float32)
    except np.linalg.LinAlgError as exc:
        raise ModelShapeError(f"projection cannot be inverted: {exc}") from exc


def network_space(prototypes: np.ndarray, inverse_matrix: np.ndarray) -> np.ndarray:
    """Projected prototypes (N, D) mapped back to unit vectors in the network's own embedding space.

    A prototype is the normalised sum of projected unit embeddings; mapped back, it is their sum weighted by one over
    each one's length under the map, which varies little: its direction matches the plain mean to a cosine of 0.9997
    on the grocery training photos.
    """
    back = prototypes @ inverse_matrix
    return (back / np.maximum(np.linalg.norm(back, axis=-1, keepdims=True), 1e-12)).astype(np.float32)
