"""The 3D-GAN paper's representation-learning protocol: a linear SVM on discriminator features.

Features: the outputs (after BatchNorm and LeakyReLU) of D's stride-2 conv layers ``feature_layers``
(numbered from 1; default every one but the first), each max-pooled to ``pool_size``^3 cells and
concatenated. At 64^3 the default is the paper's conv2-conv4 pooled to 2^3: (128 + 256 + 512) x 8 = 7168
values at base width 64; at 32^3, conv2 and conv3: (128 + 256) x 8 = 3072 (in general
``(2 + 4 + ...) * base_width * 8``).

BatchNorm statistics (``bn_statistics``). During GAN training D's moving statistics average one real and
one generated batch per step, so half of what normalises the features comes from G. The paper's released
code (3dgan-release) ships only G, run in Torch's ``evaluate()`` mode, and no D or SVM code, so it settles
nothing here. The default, ``"reestimate"``, recomputes each BatchNorm layer's mean and variance exactly over
the SVM's training split (layer by layer, each with the statistics before it already re-estimated), extracts
the features with them and restores D's own afterwards: the features of a shape then do not depend on what G
made or on the other shapes of its batch. ``"moving"`` uses D's moving statistics as they are; ``"batch"``
normalises each extraction batch by its own statistics (results then depend on how the shapes are batched).

Classifier: features standardised with the training split's mean and std, then scikit-learn's LinearSVC
(squared hinge, one-vs-rest); C is fixed when given, otherwise chosen by 3-fold cross-validation on the
training split among ``C_GRID``. Trained on one split, scored on the other.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from tf3dgan.errors import UsageError
from tf3dgan.evaluation.seed_statistics import binomial_standard_error

C_GRID = (0.001, 0.01, 0.1)
BN_STATISTICS = ("reestimate", "moving", "batch")


def max_pool_to(feature_map: np.ndarray, cells: int) -> np.ndarray:
    """(B, s, s, s, C) -> (B, cells^3 * C): the max over each of cells^3 equal blocks of the grid."""
    b, s, c = feature_map.shape[0], feature_map.shape[1], feature_map.shape[-1]
    if cells < 1 or s % cells:
        raise UsageError(f"a {s}^3 feature map cannot be max-pooled to {cells}^3 cells (the pool size must divide {s})")
    h = s // cells
    pooled = feature_map.reshape(b, cells, h, cells, h, cells, h, c).max(axis=(2, 4, 6))
    return pooled.reshape(b, cells**3 * c)


def default_feature_layers(discriminator) -> tuple:
    """The paper's choice: every stride-2 conv layer of D but the first (numbered from 1)."""
    return tuple(range(2, len(discriminator.output[1]) + 1))


def _checked_layers(discriminator, feature_layers) -> tuple:
    count = len(discriminator.output[1])
    layers = default_feature_layers(discriminator) if feature_layers is None else tuple(feature_layers)
    if not layers or any(not 1 <= k <= count for k in layers) or len(set(layers)) != len(layers):
        raise UsageError(f"feature layers must be distinct numbers from 1 to {count} (D's stride-2 convs), got {list(layers)}")
    return layers


def feature_dimension(discriminator, feature_layers=None, pool_size: int = 2) -> int:
    """Length of the feature vector ``extract_features`` returns for this discriminator."""
    _, features = discriminator.output
    return int(sum(pool_size**3 * features[k - 1].shape[-1] for k in _checked_layers(discriminator, feature_layers)))


def _batch_norm_layers(model) -> list:
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


@contextlib.contextmanager
def population_statistics(discriminator, voxels: np.ndarray, batch_size: int = 32):
    """Within the block, every BatchNorm layer of ``discriminator`` normalises by the exact mean and (biased)
    variance of its inputs over ``voxels`` in inference mode, computed layer by layer; restored afterwards."""
    import keras

    layers = _batch_norm_layers(discriminator)
    saved = [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in layers]
    try:
        for layer in layers:
            probe = keras.Model(discriminator.input, layer.input)
            total = total_sq = 0.0
            count = 0
            for i in range(0, len(voxels), batch_size):
                x = keras.ops.convert_to_numpy(
                    probe(voxels[i : i + batch_size].astype("float32")[..., None], training=False)
                ).astype(np.float64)
                x = x.reshape(-1, x.shape[-1])
                total, total_sq, count = total + x.sum(0), total_sq + (x * x).sum(0), count + len(x)
            mean = total / count
            layer.moving_mean.assign(mean.astype("float32"))
            layer.moving_variance.assign(np.maximum(total_sq / count - mean * mean, 0.0).astype("float32"))
        yield
    finally:
        for layer, (mean, variance) in zip(layers, saved):
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)


def extract_features(discriminator, voxels: np.ndarray, batch_size: int = 32, progress: bool = True,
                     feature_layers=None, pool_size: int = 2, batch_statistics: bool = False) -> np.ndarray:
    """(N, feature_dimension) float32 features of uint8 grids (N, D, D, D) at D's input size: inference mode
    (D's current moving statistics), or each batch normalised by its own statistics (``batch_statistics``;
    D's moving statistics are left as they are)."""
    import keras
    from tqdm.auto import tqdm

    size = int(discriminator.input_shape[1])
    if voxels.shape[1:] != (size, size, size):
        raise ValueError(f"grids are {voxels.shape[1:]}, the discriminator takes {size}^3")
    layers = _checked_layers(discriminator, feature_layers)
    d = discriminator
    out = np.empty((len(voxels), feature_dimension(d, layers, pool_size)), dtype=np.float32)
    for i in tqdm(range(0, len(voxels), batch_size), desc="D features", unit="batch", disable=not progress):
        batch = voxels[i : i + batch_size].astype("float32")[..., None]
        if batch_statistics:
            (_, features), _ = d.stateless_call([v.value for v in d.trainable_variables],
                                                [v.value for v in d.non_trainable_variables], batch, training=True)
        else:
            _, features = d(batch, training=False)
        out[i : i + len(batch)] = np.concatenate(
            [max_pool_to(keras.ops.convert_to_numpy(features[k - 1]).astype("float32"), pool_size) for k in layers],
            axis=1,
        )
    return out


def fit_and_score(train_x, train_y, test_x, test_y, c: float | None = None, seed: int = 0) -> dict:
    """Standardise, fit LinearSVC (C fixed or chosen by 3-fold CV), return accuracy and the chosen C."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    def make(c_value):
        return make_pipeline(StandardScaler(), LinearSVC(C=c_value, max_iter=5000, random_state=seed))

    if c is None:
        folds = min(3, int(np.bincount(train_y).min()) if len(train_y) else 0)
        if folds >= 2:
            search = GridSearchCV(make(C_GRID[0]), {"linearsvc__C": list(C_GRID)}, cv=folds)
            search.fit(train_x, train_y)
            c = float(search.best_params_["linearsvc__C"])
        else:
            c = C_GRID[1]
    model = make(c).fit(train_x, train_y)
    predicted = model.predict(test_x)
    return {"c": float(c), "predicted": predicted, "accuracy": float((predicted == test_y).mean())}


@functools.lru_cache(maxsize=4)
def load_split(path, split: str, cube_len: int, max_per_class: int | None = None):
    """(uint8 grids at cube_len, labels, class names) of one split; empty grids dropped (with a warning).

    Cached (an ablation scores many runs on the same data); the returned arrays must not be modified.
    """
    import data_io
    from data_io.errors import DataError

    voxels = data_io.read_source(path, split=split, size=cube_len)
    if voxels.labels is None:
        raise DataError(f"{path}: the SVM protocol needs class labels (e.g. y_{split} in an .npz)")
    keep = np.arange(len(voxels))
    if max_per_class:
        keep = np.concatenate([np.flatnonzero(voxels.labels == c)[:max_per_class] for c in np.unique(voxels.labels)])
        keep.sort()
    names = voxels.class_names or [str(c) for c in range(int(voxels.labels.max()) + 1)]
    return data_io.resize(voxels.voxels[keep], cube_len), voxels.labels[keep], names


def check_separate_splits(data, train, test, train_split: str = "train", test_split: str = "test") -> None:
    """A DataError when the two splits of ``data`` read as the same shapes (a source without a test split, which
    every reader returns whole for either split): an SVM scored on its own training shapes measures nothing."""
    from data_io.errors import DataError

    (train_v, train_y), (test_v, test_y) = train, test
    if train_v.shape == test_v.shape and np.array_equal(train_y, test_y) and np.array_equal(train_v, test_v):
        raise DataError(f"{data}: has no separate '{test_split}' split (the '{train_split}' and '{test_split}' reads "
                        f"are the same {len(train_y)} shapes), so the SVM would be scored on its own training "
                        f"shapes; give labelled data with both splits (an .npz with x_{train_split}/y_{train_split} "
                        f"and x_{test_split}/y_{test_split}, or a ModelNet folder <class>/{train_split}|{test_split}/)")


def evaluate_discriminator(
    discriminator, data, c: float | None = None, max_per_class: int | None = None, train_split: str = "train",
    test_split: str = "test", progress: bool = True, seed: int = 0, bn_statistics: str = "reestimate",
    feature_layers=None, pool_size: int = 2,
) -> dict:
    """The protocol on one discriminator: train on ``train_split`` of ``data``, score on ``test_split``."""
    if bn_statistics not in BN_STATISTICS:
        raise UsageError(f"BatchNorm statistics must be one of {', '.join(BN_STATISTICS)}, got {bn_statistics!r}")
    layers = _checked_layers(discriminator, feature_layers)
    cube_len = int(discriminator.input_shape[1])
    train_v, train_y, names = load_split(data, train_split, cube_len, max_per_class)
    test_v, test_y, _ = load_split(data, test_split, cube_len, max_per_class)
    check_separate_splits(data, (train_v, train_y), (test_v, test_y), train_split, test_split)
    extract = functools.partial(extract_features, discriminator, progress=progress, feature_layers=layers,
                                pool_size=pool_size, batch_statistics=bn_statistics == "batch")
    statistics = (population_statistics(discriminator, train_v) if bn_statistics == "reestimate"
                  else contextlib.nullcontext())
    with statistics:
        train_x, test_x = extract(train_v), extract(test_v)
    fitted = fit_and_score(train_x, train_y, test_x, test_y, c, seed)
    per_class = {}
    for label in np.unique(test_y):
        mask = test_y == label
        per_class[names[label] if label < len(names) else str(label)] = float((fitted["predicted"][mask] == label).mean())
    accuracy, n_test = fitted["accuracy"], int(len(test_y))
    return {
        "accuracy": accuracy, "accuracy_se": binomial_standard_error(accuracy, n_test),
        "per_class": per_class, "c": fitted["c"], "feature_dim": int(train_x.shape[1]),
        "n_train": int(len(train_y)), "n_test": n_test, "cube_len": cube_len, "bn_statistics": bn_statistics,
        "feature_layers": list(layers), "pool_size": pool_size,
    }


def untrained_discriminator(config, seed: int | None = None):
    """D of ``config``'s architecture with a fresh seeded initialisation (the baseline to beat)."""
    import keras

    from variants import get_variant

    keras.utils.set_random_seed(config.train.seed if seed is None else seed)
    _, discriminator, _ = get_variant(config.model.variant)(config.variant).build_networks(config.model)
    return discriminator
