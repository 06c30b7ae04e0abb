"""Fitting the softmax temperature and the "unknown" similarity threshold on held-out (val) embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision.recognition.recognizer import InferenceSettings


@dataclass(frozen=True)
class CalibrationReport:
    """The fitted calibration and how it behaves on the data it was fitted on."""

    calibration: InferenceSettings
    known_accepted: float
    unknown_rejected: float
    ece: float


def fit_temperature(sims: np.ndarray, labels: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood of softmax(sims / T) (grid search in log space)."""
    best_t, best_nll = 0.05, np.inf
    for t in np.exp(np.linspace(np.log(0.005), np.log(0.5), 200)):
        z = sims / t
        z = z - z.max(axis=1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def expected_calibration_error(sims: np.ndarray, labels: np.ndarray, temperature: float, bins: int = 10) -> float:
    """ECE of the top-1 softmax probability."""
    z = sims / temperature
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    conf, pred = p.max(axis=1), p.argmax(axis=1)
    correct = pred == labels
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            ece += sel.mean() * abs(conf[sel].mean() - correct[sel].mean())
    return float(ece)


def fit_calibration(sims: np.ndarray, labels: np.ndarray, gate: np.ndarray | None = None) -> CalibrationReport:
    """sims (N, C): each image's cosine to every class prototype, which ranks the classes; labels (N,) its class;
    gate (N, C): the similarities that decide "unknown", when not sims (see projection.py).

    The unknown threshold simulates out-of-catalogue products by leaving each image's own class out: the top-ranked
    class's gate similarity with the class present (known) and absent (unknown) are two score populations, and the
    threshold maximises their balanced accuracy (Youden's J).
    """
    n = np.arange(len(labels))
    gate = sims if gate is None else gate
    known = gate[n, sims.argmax(axis=1)]
    without = sims.copy()
    without[n, labels] = -np.inf
    unknown = gate[n, without.argmax(axis=1)]
    candidates = np.unique(np.concatenate([known, unknown]))
    best_t, best_j = 0.5, -1.0
    for t in candidates:
        j = float(np.mean(known >= t) + np.mean(unknown < t))
        if j > best_j:
            best_t, best_j = float(t), j
    # Midway to the next lower score: the same split of the data, but not sitting on one image's score.
    below = candidates[candidates < best_t]
    threshold = float((below.max() + best_t) / 2) if below.size else best_t
    temperature = fit_temperature(sims, labels)
    return CalibrationReport(
        InferenceSettings(temperature, threshold),
        known_accepted=float(np.mean(known >= threshold)),
        unknown_rejected=float(np.mean(unknown < threshold)),
        ece=expected_calibration_error(sims, labels, temperature),
    )
