"""`train` end to end: cache data, train, pick the test resolution, export .tflite, build gallery, calibrate, report."""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from vision.datasets import GROCERY_ENV
from vision.recognition.backends import EmbeddingModel
from vision.recognition.calibration import fit_calibration
from vision.recognition.catalog import DEMO_CATALOG, read_vision_products
from vision.recognition.dataset import ClassInfo, Sample, read_classes, read_list
from vision.recognition.errors import DatasetError
from vision.recognition.gallery import Gallery
from vision.recognition.projection import fit_wccn, inverse, network_space, project, save_projection
from vision.recognition.recognizer import InferenceSettings, Recognizer, model_fingerprint

log = logging.getLogger(__name__)

MODEL_NAME = "grocery_embedder"
GALLERY_NAME = "grocery_gallery.npz"


@dataclass(frozen=True)
class PipelineConfig:
    """Everything `python -m vision train` decides; see cli.py for the flags."""

    data: Path | None  # None: neither --data nor $AISLE_GROCERY named one; run() says so once TensorFlow is there
    out: Path
    catalogue: Path = DEMO_CATALOG
    cache_dir: Path = Path(tempfile.gettempdir()) / "aisle-recognition-cache"
    cache_size: int = 160
    threads: int = 2
    holdout: int = 0
    shots: int = 5
    eval_sizes: tuple[int, ...] = (112, 128, 144, 160)
    runtime_sizes: tuple[int, ...] = (128, 144, 160, 176, 192)
    float16: bool = True
    epochs: int | None = None
    train_sizes: tuple[int, ...] | None = None
    seed: int = 1234
    gallery_only: bool = False
    # WCCN strengths tried on val (0, no projection, is always tried).
    projection_shrinkages: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0)
    command: str = field(default_factory=lambda: " ".join(sys.argv))


def _configure_tf(threads: int, seed: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(seed)


def _holdout_classes(classes: list[ClassInfo], val: list[Sample], n: int, seed: int) -> list[int]:
    """n classes drawn (seeded) among those with val photos, so each held-out class can be scored."""
    if n <= 0:
        return []
    scored = sorted({s.fine_id for s in val})
    if n >= len(scored) or n >= len(classes):
        raise DatasetError(f"cannot hold out {n} of {len(scored)} classes with val photos")
    return sorted(int(c) for c in np.random.default_rng(seed).choice(scored, n, replace=False))


def _remap(samples: list[Sample], fine_map: dict[int, int], coarse_map: dict[int, int]) -> list[Sample]:
    return [Sample(s.path, fine_map[s.fine_id], coarse_map[s.coarse_id]) for s in samples if s.fine_id in fine_map]


def _dataset(cfg: PipelineConfig) -> Path:
    """The dataset folder, or a DatasetError naming the two ways to give one."""
    if cfg.data is None:
        raise DatasetError(f"no dataset folder: pass --data, or name it in ${GROCERY_ENV}")
    return cfg.data


def run(cfg: PipelineConfig) -> dict[str, object]:
    """Train and write `<out>/grocery_embedder.tflite`, `.json` (calibration, metrics) and the gallery .npz."""
    if cfg.gallery_only:
        return rebuild_gallery(cfg)
    started = time.monotonic()
    _configure_tf(cfg.threads, cfg.seed)
    from vision.recognition.training.data import AugmentConfig, load_cached
    from vision.recognition.training.export import to_tflite, verify
    from vision.recognition.training.loop import TrainConfig, predict_cosines, topk, train
    from vision.recognition.training.model import ArchConfig, build_embedder, build_trainer, rebuild_at

    data = _dataset(cfg)
    classes = read_classes(data / "classes.csv")
    products = read_vision_products(cfg.catalogue)
    train_all = read_list(data, data / "train.txt", len(classes))
    val_all = read_list(data, data / "val.txt", len(classes))
    held = _holdout_classes(classes, val_all, cfg.holdout, cfg.seed)
    kept = [c for c in classes if c.fine_id not in held]
    fine_map = {c.fine_id: i for i, c in enumerate(kept)}
    coarse_ids = sorted({c.coarse_id for c in kept})
    coarse_map = {c: i for i, c in enumerate(coarse_ids)}
    train_s, val_s = _remap(train_all, fine_map, coarse_map), _remap(val_all, fine_map, coarse_map)
    log.info("training on %d images of %d classes (held out: %s)", len(train_s), len(kept), held)

    arch = ArchConfig()
    tcfg = TrainConfig(seed=cfg.seed, augment=AugmentConfig())
    if cfg.epochs is not None:
        tcfg = replace(tcfg, epochs=cfg.epochs, warmup_epochs=min(tcfg.warmup_epochs, max(cfg.epochs - 1, 0)))
    if cfg.train_sizes is not None:
        tcfg = replace(tcfg, train_sizes=cfg.train_sizes)
    train_split = load_cached(train_s, cfg.cache_size, cfg.cache_dir, "train")
    val_split = load_cached(val_s, cfg.cache_size, cfg.cache_dir, "val")
    embedder = build_embedder(None, arch)
    trainer = build_trainer(embedder, len(kept), len(coarse_ids))
    result = train(trainer, train_split, val_split, len(kept), len(coarse_ids), tcfg)
    trainer.set_weights(result.best_weights)

    # Random-resized-crop training makes objects look bigger than in a whole frame; a larger test size evens that out.
    from vision.recognition.training.data import eval_images

    by_size = {s: topk(predict_cosines(trainer, eval_images(val_split, s)), val_split.fine, 1) for s in cfg.eval_sizes}
    size = max(cfg.eval_sizes, key=lambda s: (by_size[s], -s))
    log.info("val top-1 by test size: %s -> %d", by_size, size)
    final = rebuild_at(embedder, size, arch)
    flatbuffer = to_tflite(final, cfg.float16)
    check = eval_images(val_split, size)[:: max(1, len(val_split.fine) // 24)]
    worst_cosine = verify(flatbuffer, final, check)
    cfg.out.mkdir(parents=True, exist_ok=True)
    model_path = cfg.out / f"{MODEL_NAME}.tflite"
    model_path.write_bytes(flatbuffer)

    training = {
        "command": cfg.command,
        "seed": cfg.seed,
        "threads": cfg.threads,
        "held_out_classes": [classes[i].name for i in held],
        "arch": arch.to_dict(),
        "train": tcfg.to_dict(),
        "best_epoch": result.best_epoch,
        "val_top1_classifier": result.best_top1,
        "val_top5_classifier": result.best_top5,
        "val_top1_by_test_size": {str(k): v for k, v in by_size.items()},
        "params": int(embedder.count_params()),
        "tflite_bytes": len(flatbuffer),
        "tflite_vs_keras_min_cosine": worst_cosine,
        "train_seconds": round(result.seconds, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
    }
    (cfg.out / f"{MODEL_NAME}.history.json").write_text(json.dumps(result.history) + "\n", encoding="utf-8")
    return finish(cfg, model_path, classes, products, train_all, val_all, held, training, started)


def finish(
    cfg: PipelineConfig,
    model_path: Path,
    classes: list[ClassInfo],
    products: dict,
    train_all: list[Sample],
    val_all: list[Sample],
    held: list[int],
    training: dict[str, object],
    started: float,
) -> dict[str, object]:
    """Pick input size, mirror averaging and projection on val through the runtime path; write gallery and metadata."""
    embedded = {(size, flip): embed_dataset(model_path, classes, train_all, val_all, held, cfg, flip, size)
                for size in cfg.runtime_sizes for flip in (False, True)}
    model_id = model_fingerprint(model_path)
    reports = {c: gallery_and_metrics(e, classes, products, held, cfg, None, model_id) for c, e in embedded.items()}
    choice = max(reports, key=lambda c: (*_merit(reports[c][0], held), -c[0], not c[1]))
    # The projection is fitted for the chosen setting only; its strength is chosen on val like the setting.
    chosen = embedded[choice]
    trained = np.concatenate([v for c, v in chosen.train.items() if c not in held])
    labels = np.concatenate([np.full(len(v), c) for c, v in chosen.train.items() if c not in held])
    projections: dict[float, np.ndarray | None] = {0.0: None}
    projections.update({s: fit_wccn(trained, labels, s) for s in cfg.projection_shrinkages})
    by_projection = {s: gallery_and_metrics(chosen, classes, products, held, cfg, m,
                                            model_fingerprint(model_path, m)) for s, m in projections.items()}
    # Ties go to no projection, then to the stronger shrinkage (closer to no projection).
    shrinkage = max(by_projection, key=lambda s: (*_merit(by_projection[s][0], held), s == 0.0, s))
    metrics, gallery = by_projection[shrinkage]
    gallery.save(cfg.out / GALLERY_NAME)
    projection_path = cfg.out / f"{MODEL_NAME}.projection.npy"
    projection_path.unlink(missing_ok=True)
    inference = metrics.pop("inference")
    if projections[shrinkage] is not None:
        save_projection(projection_path, projections[shrinkage])
        inference["projection"] = projection_path.name
        inference["projection_method"] = (f"WCCN on the trained classes' training photos, shrinkage {shrinkage} "
                                          "(chosen on val)")
    metrics["val_by_setting"] = {f"{size}px{' +mirror' if flip else ''}": [r[0]["val_top1"], r[0]["val_top5"]]
                                 for (size, flip), r in reports.items()}
    metrics["val_by_projection_shrinkage"] = {
        ("none" if s == 0.0 else str(s)): [r[0]["val_top1"], r[0]["val_top5"]] for s, r in by_projection.items()}
    model = EmbeddingModel(model_path, input_size=choice[0])
    training["gallery_rebuild_seconds" if "gallery_rebuilt_by" in training else "total_seconds"] = round(
        time.monotonic() - started, 1)
    meta = {
        "model": model_path.name,
        "model_id": model_fingerprint(model_path),
        "exported_input_size": EmbeddingModel(model_path).input_size,
        "input": "float32 RGB 0..255, centre square of the frame, resized to inference.input_size",
        "embed_dim": model.embed_dim,
        "inference": inference,
        "metrics": metrics,
        "training": training,
    }
    (cfg.out / f"{MODEL_NAME}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def _merit(metrics: dict[str, object], held: list[int]) -> tuple[float, float]:
    """What val choices maximise: top-1 plus top-5 (both are targets), then top-1; on trained classes only when
    classes are held out (those are the few-shot test, not for choosing)."""
    prefix = "trained_classes_" if held else ""
    top1, top5 = float(metrics[f"{prefix}val_top1"]), float(metrics[f"{prefix}val_top5"])  # type: ignore[arg-type]
    return top1 + top5, top1


def rebuild_gallery(cfg: PipelineConfig) -> dict[str, object]:
    """Redo gallery, calibration and metrics for the model already in cfg.out (no training, no TensorFlow)."""
    started = time.monotonic()
    model_path = cfg.out / f"{MODEL_NAME}.tflite"
    meta_path = cfg.out / f"{MODEL_NAME}.json"
    training = json.loads(meta_path.read_text(encoding="utf-8"))["training"] if meta_path.is_file() else {}
    data = _dataset(cfg)
    classes = read_classes(data / "classes.csv")
    names = {c.name: c.fine_id for c in classes}
    held = sorted(names[n] for n in training.get("held_out_classes", []))
    train_all = read_list(data, data / "train.txt", len(classes))
    val_all = read_list(data, data / "val.txt", len(classes))
    training["gallery_rebuilt_by"] = cfg.command
    return finish(cfg, model_path, classes, read_vision_products(cfg.catalogue), train_all, val_all, held, training,
                  started)


@dataclass(frozen=True)
class Embedded:
    """Runtime-path embeddings of a dataset under one setting: per class the gallery photos' embeddings (the
    iconic image apart), and every val photo's embedding with its time."""

    input_size: int
    flip_average: bool
    train: dict[int, np.ndarray]
    iconic: dict[int, np.ndarray]
    val: np.ndarray
    val_fine: np.ndarray
    val_ms: list[float]


def embed_dataset(
    model_path: Path,
    classes: list[ClassInfo],
    train_all: list[Sample],
    val_all: list[Sample],
    held: list[int],
    cfg: PipelineConfig,
    flip_average: bool = False,
    input_size: int | None = None,
) -> Embedded:
    """Embed the gallery photos of every class (held-out ones: `shots` photos) and the val photos, unprojected."""
    from tqdm import tqdm

    model = EmbeddingModel(model_path, threads=cfg.threads, input_size=input_size)
    rec = Recognizer(model, Gallery(model.embed_dim), InferenceSettings(flip_average=flip_average,
                                                                        input_size=input_size))
    rng = np.random.default_rng(cfg.seed + 1)
    train: dict[int, np.ndarray] = {}
    iconic: dict[int, np.ndarray] = {}
    for c in tqdm(classes, desc=f"gallery {model.input_size}px{' +mirror' if flip_average else ''}", unit="class",
                  leave=False):
        photos = [s.path for s in train_all if s.fine_id == c.fine_id]
        if c.fine_id in held:
            photos = [photos[i] for i in sorted(rng.choice(len(photos), min(cfg.shots, len(photos)), replace=False))]
        elif c.iconic is not None and c.iconic.is_file():
            iconic[c.fine_id] = rec.embed_photos([c.iconic])
        train[c.fine_id] = rec.embed_photos(photos)
    val_emb, times = [], []
    for s in tqdm(val_all, desc="val", unit="img", leave=False):
        start = time.perf_counter()
        val_emb.append(rec.embed(_read(s.path)))
        times.append((time.perf_counter() - start) * 1000)
    fine = np.array([s.fine_id for s in val_all])
    return Embedded(model.input_size, flip_average, train, iconic, np.stack(val_emb), fine, times)


def gallery_and_metrics(
    embedded: Embedded,
    classes: list[ClassInfo],
    products: dict,
    held: list[int],
    cfg: PipelineConfig,
    projection: np.ndarray | None,
    model_id: str,
) -> tuple[dict[str, object], Gallery]:
    """Enrol every class from its embeddings (through the projection, as the runtime does), calibrate on val."""
    gallery = Gallery(embedded.val.shape[1], model_id)
    for c in classes:
        product = products.get(c.name)
        if product is None:
            raise DatasetError(f"class {c.name!r} has no product with that vision_label in {cfg.catalogue}")
        views = [embedded.train[c.fine_id], *([embedded.iconic[c.fine_id]] if c.fine_id in embedded.iconic else [])]
        gallery.add(product.sku, project(np.concatenate(views), projection), label=product.name or c.name)

    protos = gallery.snapshot().prototypes  # gallery order == class order (products added class by class)
    sims = project(embedded.val, projection) @ protos.T
    # As the recogniser does: with a projection, "unknown" is decided in the network's own space.
    gate = sims if projection is None else embedded.val @ network_space(protos, inverse(projection)).T
    fine = embedded.val_fine
    coarse_of = np.array([c.coarse_id for c in classes])
    order = np.argsort(-sims, axis=1)
    is_held = np.isin(fine, held)
    known = ~is_held
    report = fit_calibration(sims[known], fine[known], gate[known])
    metrics: dict[str, object] = {
        "val_images": int(len(fine)),
        "val_top1": _top(order, fine, 1),
        "val_top5": _top(order, fine, 5),
        "val_coarse_top1": _top(coarse_of[order], coarse_of[fine], 1),
        "val_coarse_top5": _top(coarse_of[order], coarse_of[fine], 5),
        "val_unknown_rate": float(np.mean(gate[np.arange(len(fine)), order[:, 0]] < report.calibration.unknown_below)),
        "calibration_known_accepted": report.known_accepted,
        "calibration_left_out_class_rejected": report.unknown_rejected,
        "calibration_ece": report.ece,
        "embed_ms_median_threads": [float(np.median(embedded.val_ms)), cfg.threads],
        "inference": {"temperature": report.calibration.temperature,
                      "unknown_below": report.calibration.unknown_below,
                      "flip_average": embedded.flip_average,
                      "input_size": embedded.input_size,
                      "method": "temperature: NLL on val; unknown_below: Youden's J on val, own class left out"},
    }
    if held:
        metrics["fewshot_classes"] = [classes[i].name for i in held]
        metrics["fewshot_shots"] = cfg.shots
        metrics["fewshot_val_images"] = int(is_held.sum())
        metrics["fewshot_top1"] = _top(order[is_held], fine[is_held], 1)
        metrics["fewshot_top5"] = _top(order[is_held], fine[is_held], 5)
        metrics["trained_classes_val_top1"] = _top(order[known], fine[known], 1)
        metrics["trained_classes_val_top5"] = _top(order[known], fine[known], 5)
    log.info("metrics (%d px, flip_average=%s, projection=%s) %s", embedded.input_size, embedded.flip_average,
             projection is not None, metrics)
    return metrics, gallery


def _top(order: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Fraction of rows whose truth is among the first k of its ranking."""
    return float(np.mean(np.any(order[:, :k] == truth[:, None], axis=1))) if len(truth) else 0.0


def _read(path: Path) -> np.ndarray:
    from vision.recognition.images import read_image_bgr

    return read_image_bgr(path)
