"""The training loop: SGD with warm-up and cosine decay, cosine-margin loss, weight EMA, selection by val top-1."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from vision.recognition.training.data import AugmentConfig, CachedSplit, epoch_batches, eval_images

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (defaults are the committed model's)."""

    epochs: int = 90
    batch_size: int = 64
    lr: float = 0.1
    weight_decay: float = 5e-4
    warmup_epochs: int = 3
    label_smoothing: float = 0.1
    scale: float = 16.0
    margin: float = 0.1
    coarse_weight: float = 0.3
    ema_decay: float = 0.995
    eval_size: int = 128
    # Progressive resizing: equal shares of the epochs at each size; small images early are cheap, large ones late
    # teach detail.
    train_sizes: tuple[int, ...] = (96, 112, 128)
    seed: int = 1234
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict[str, object]:
        """Plain dict for metadata files."""
        return asdict(self)


@dataclass
class TrainResult:
    """Best (EMA) weights by val top-1 and the per-epoch history."""

    best_weights: list[np.ndarray]
    best_epoch: int
    best_top1: float
    best_top5: float
    history: list[dict[str, float]]
    seconds: float


def _margin_ce(cos: tf.Tensor, target: tf.Tensor, cfg: TrainConfig) -> tf.Tensor:
    """Cross-entropy on scaled cosines with an additive margin on the (soft) target and label smoothing."""
    n = tf.cast(tf.shape(target)[-1], tf.float32)
    logits = cfg.scale * (cos - cfg.margin * target)
    smooth = target * (1.0 - cfg.label_smoothing) + cfg.label_smoothing / n
    return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(smooth, logits))


def predict_cosines(trainer: keras.Model, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """Fine-class cosines for float images, in batches."""
    out = [trainer(images[i : i + batch], training=False)[0].numpy() for i in range(0, len(images), batch)]
    return np.concatenate(out)


def topk(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the k highest scores."""
    best = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean(np.any(best == labels[:, None], axis=1)))


def train(
    trainer: keras.Model,
    train_split: CachedSplit,
    val_split: CachedSplit,
    n_fine: int,
    n_coarse: int,
    cfg: TrainConfig,
) -> TrainResult:
    """Train in place; return the EMA weights of the epoch with the best val top-1 (ties: better top-5)."""
    steps = len(train_split.fine) // cfg.batch_size
    total = steps * cfg.epochs
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.lr * 0.01,
        decay_steps=total - steps * cfg.warmup_epochs,
        warmup_target=cfg.lr,
        warmup_steps=steps * cfg.warmup_epochs,
        alpha=0.0,
    )
    opt = keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    # Scale-free parameters: decaying them only changes the effective learning rate.
    opt.exclude_from_weight_decay(var_names=["gamma", "beta", "fine_head", "coarse_head"])
    variables = trainer.trainable_variables
    ema = [tf.Variable(v, trainable=False) for v in trainer.weights]
    step_var = tf.Variable(0, dtype=tf.int64, trainable=False)

    @tf.function(reduce_retracing=True)
    def step(x: tf.Tensor, yf: tf.Tensor, yc: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            cf, cc = trainer(x, training=True)
            loss = _margin_ce(cf, yf, cfg) + cfg.coarse_weight * _margin_ce(cc, yc, cfg)
        opt.apply(tape.gradient(loss, variables), variables)
        step_var.assign_add(1)
        s = tf.cast(step_var, tf.float32)
        # Early on the average would be dominated by random initial weights: ramp the decay up.
        d = tf.minimum(cfg.ema_decay, (1.0 + s) / (10.0 + s))
        for e, w in zip(ema, trainer.weights, strict=True):
            e.assign(d * e + (1.0 - d) * w)
        acc = tf.reduce_mean(tf.cast(tf.argmax(cf, 1) == tf.argmax(yf, 1), tf.float32))
        return loss, acc

    val_x = eval_images(val_split, cfg.eval_size)
    history: list[dict[str, float]] = []
    best = TrainResult([], -1, -1.0, -1.0, history, 0.0)
    start = time.monotonic()
    bar = tqdm(range(cfg.epochs), desc="train", unit="epoch")
    for epoch in bar:
        losses, accs = [], []
        augment = replace(cfg.augment, out_size=size_for_epoch(epoch, cfg))
        for x, yf, yc in epoch_batches(train_split, cfg.batch_size, n_fine, n_coarse, augment, cfg.seed + epoch):
            loss, acc = step(x, yf, yc)
            losses.append(float(loss))
            accs.append(float(acc))
        row = {"epoch": epoch + 1, "size": augment.out_size, "loss": float(np.mean(losses)),
               "train_acc": float(np.mean(accs))}
        if _should_eval(epoch, cfg.epochs):
            row["val_top1_live"] = topk(predict_cosines(trainer, val_x), val_split.fine, 1)
            live = [w.numpy() for w in trainer.weights]
            for w, e in zip(trainer.weights, ema, strict=True):
                w.assign(e)
            scores = predict_cosines(trainer, val_x)
            row["val_top1"], row["val_top5"] = topk(scores, val_split.fine, 1), topk(scores, val_split.fine, 5)
            if (row["val_top1"], row["val_top5"]) > (best.best_top1, best.best_top5):
                weights = [e.numpy() for e in ema]
                best = TrainResult(weights, epoch + 1, row["val_top1"], row["val_top5"], history, 0.0)
            for w, v in zip(trainer.weights, live, strict=True):
                w.assign(v)
        row["seconds"] = time.monotonic() - start
        history.append(row)
        log.info("epoch %s", row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['train_acc']:.2f}", val=f"{row.get('val_top1', -1):.3f}")
    best.seconds = time.monotonic() - start
    return best


def _should_eval(epoch: int, epochs: int) -> bool:
    """Every 5th epoch early on, every epoch over the last 40% (where the best checkpoint lives)."""
    return epoch + 1 >= 0.6 * epochs or (epoch + 1) % 5 == 0 or epoch + 1 == epochs


def size_for_epoch(epoch: int, cfg: TrainConfig) -> int:
    """Training crop size of an epoch under progressive resizing."""
    return cfg.train_sizes[min(len(cfg.train_sizes) - 1, epoch * len(cfg.train_sizes) // cfg.epochs)]
