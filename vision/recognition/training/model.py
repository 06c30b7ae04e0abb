"""The embedding network: a MobileNetV2-style inverted-residual CNN with an L2-normalised embedding and cosine heads."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
import tensorflow as tf
from keras import layers as L


@dataclass(frozen=True)
class ArchConfig:
    """Width and depth knobs of the network."""

    width: float = 1.0
    expansion: int = 4
    last_channels: int = 1024
    embed_dim: int = 256
    dropout: float = 0.2

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict for metadata files."""
        return asdict(self)


# (expansion multiplier or 1, output channels, repeats, first stride) as in MobileNetV2.
_STAGES = ((1, 16, 1, 1), (0, 24, 2, 2), (0, 32, 3, 2), (0, 64, 4, 2), (0, 96, 3, 1), (0, 160, 3, 2), (0, 320, 1, 1))


def _channels(c: float) -> int:
    return max(8, int(c + 4) // 8 * 8)


def _bn_act(x: tf.Tensor, name: str, act: bool = True) -> tf.Tensor:
    x = L.BatchNormalization(momentum=0.9, epsilon=1e-3, name=f"{name}_bn")(x)
    return L.ReLU(6.0, name=f"{name}_relu")(x) if act else x


def _block(x: tf.Tensor, cin: int, cout: int, expand: int, stride: int, name: str) -> tf.Tensor:
    y = x
    if expand != 1:
        y = _bn_act(L.Conv2D(cin * expand, 1, use_bias=False, name=f"{name}_expand")(y), f"{name}_expand")
    y = L.DepthwiseConv2D(3, stride, padding="same", use_bias=False, name=f"{name}_dw")(y)
    y = _bn_act(y, f"{name}_dw")
    y = _bn_act(L.Conv2D(cout, 1, use_bias=False, name=f"{name}_project")(y), f"{name}_project", act=False)
    return L.Add(name=f"{name}_add")([x, y]) if stride == 1 and cin == cout else y


def build_embedder(size: int | None, arch: ArchConfig) -> keras.Model:
    """Image (N, size, size, 3) float RGB 0..255 -> L2-normalised embedding (N, embed_dim); None: any size."""
    inp = keras.Input((size, size, 3), name="image")
    x = L.Rescaling(1 / 127.5, offset=-1.0, name="scale")(inp)
    c = _channels(32 * arch.width)
    x = _bn_act(L.Conv2D(c, 3, 2, padding="same", use_bias=False, name="stem")(x), "stem")
    for s, (t, out, n, stride) in enumerate(_STAGES):
        cout = _channels(out * arch.width)
        for i in range(n):
            x = _block(x, c, cout, t or arch.expansion, stride if i == 0 else 1, f"s{s}b{i}")
            c = cout
    x = _bn_act(L.Conv2D(arch.last_channels, 1, use_bias=False, name="head")(x), "head")
    x = L.GlobalAveragePooling2D(name="pool")(x)
    x = L.Dropout(arch.dropout, name="drop")(x)
    x = L.Dense(arch.embed_dim, use_bias=False, name="embed")(x)
    x = L.BatchNormalization(momentum=0.9, name="embed_bn")(x)
    x = L.UnitNormalization(name="embedding")(x)
    return keras.Model(inp, x, name="embedder")


@keras.saving.register_keras_serializable(package="aisle")
class CosineHead(L.Layer):
    """Cosine similarity of a unit embedding to one learned unit vector per class."""

    def __init__(self, classes: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.classes = classes

    def build(self, input_shape: tuple[int, ...]) -> None:
        """Create the class weight matrix."""
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], self.classes), initializer="glorot_uniform", trainable=True
        )

    def call(self, x: tf.Tensor) -> tf.Tensor:
        """(N, D) unit vectors -> (N, classes) cosines."""
        return tf.matmul(x, tf.math.l2_normalize(self.kernel, axis=0))

    def get_config(self) -> dict[str, object]:
        """Serialisable config."""
        return {**super().get_config(), "classes": self.classes}


def build_trainer(embedder: keras.Model, n_fine: int, n_coarse: int) -> keras.Model:
    """Embedder plus cosine heads for fine and coarse classes (outputs are cosines, not logits)."""
    emb = embedder.output
    fine = CosineHead(n_fine, name="fine_head")(emb)
    coarse = CosineHead(n_coarse, name="coarse_head")(emb)
    return keras.Model(embedder.input, [fine, coarse], name="trainer")


def rebuild_at(embedder: keras.Model, size: int, arch: ArchConfig) -> keras.Model:
    """The same weights in a network with a different fixed input size (the pooling makes weights size-free)."""
    other = build_embedder(size, arch)
    other.set_weights(embedder.get_weights())
    return other
