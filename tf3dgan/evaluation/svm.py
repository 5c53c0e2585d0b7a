"""The 3D-GAN paper's representation-learning protocol: a linear SVM on discriminator features.

Features: D runs in inference mode; the outputs (after BatchNorm and LeakyReLU) of every stride-2 conv layer
except the first are each max-pooled to 2x2x2 and concatenated. At 64^3 that is the paper's conv2-conv4:
(128 + 256 + 512) x 8 = 7168 values at base width 64. At 32^3, where D has three stride-2 convs, it is conv2
and conv3: (128 + 256) x 8 = 3072 values at base width 64 (in general ``(2 + 4 + ...) * base_width * 8``).
Classifier: features standardised with the training split's mean and std, then scikit-learn's LinearSVC
(squared hinge, one-vs-rest); C is fixed when given, otherwise chosen by 3-fold cross-validation on the
training split among ``C_GRID``. Trained on one split, scored on the other.
"""

from __future__ import annotations

import functools

import numpy as np

C_GRID = (0.001, 0.01, 0.1)


def max_pool_to_2(feature_map: np.ndarray) -> np.ndarray:
    """(B, s, s, s, C) -> (B, 8 * C): max over each octant of the grid."""
    b, s = feature_map.shape[0], feature_map.shape[1]
    c = feature_map.shape[-1]
    if s < 2 or s % 2:
        raise ValueError(f"feature maps must have an even size >= 2 to pool to 2^3, got {s}")
    h = s // 2
    pooled = feature_map.reshape(b, 2, h, 2, h, 2, h, c).max(axis=(2, 4, 6))
    return pooled.reshape(b, 8 * c)


def feature_dimension(discriminator) -> int:
    """Length of the feature vector ``extract_features`` returns for this discriminator."""
    _, features = discriminator.output
    return int(sum(8 * f.shape[-1] for f in features[1:]))


def extract_features(discriminator, voxels: np.ndarray, batch_size: int = 32, progress: bool = True) -> np.ndarray:
    """(N, feature_dimension) float32 features of uint8 grids (N, D, D, D) at D's input size."""
    import keras
    from tqdm.auto import tqdm

    size = int(discriminator.input_shape[1])
    if voxels.shape[1:] != (size, size, size):
        raise ValueError(f"grids are {voxels.shape[1:]}, the discriminator takes {size}^3")
    if len(discriminator.output[1]) < 2:
        raise ValueError("the discriminator needs at least two stride-2 conv layers for this protocol")
    out = np.empty((len(voxels), feature_dimension(discriminator)), dtype=np.float32)
    for i in tqdm(range(0, len(voxels), batch_size), desc="D features", unit="batch", disable=not progress):
        batch = voxels[i : i + batch_size].astype("float32")[..., None]
        _, features = discriminator(batch, training=False)
        out[i : i + len(batch)] = np.concatenate(
            [max_pool_to_2(keras.ops.convert_to_numpy(f).astype("float32")) for f in features[1:]], axis=1
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


def evaluate_discriminator(
    discriminator, data, c: float | None = None, max_per_class: int | None = None, train_split: str = "train",
    test_split: str = "test", progress: bool = True, seed: int = 0,
) -> dict:
    """The protocol on one discriminator: train on ``train_split`` of ``data``, score on ``test_split``."""
    cube_len = int(discriminator.input_shape[1])
    train_v, train_y, names = load_split(data, train_split, cube_len, max_per_class)
    test_v, test_y, _ = load_split(data, test_split, cube_len, max_per_class)
    train_x = extract_features(discriminator, train_v, progress=progress)
    test_x = extract_features(discriminator, test_v, progress=progress)
    fitted = fit_and_score(train_x, train_y, test_x, test_y, c, seed)
    per_class = {}
    for label in np.unique(test_y):
        mask = test_y == label
        per_class[names[label] if label < len(names) else str(label)] = float((fitted["predicted"][mask] == label).mean())
    return {
        "accuracy": fitted["accuracy"], "per_class": per_class, "c": fitted["c"], "feature_dim": int(train_x.shape[1]),
        "n_train": int(len(train_y)), "n_test": int(len(test_y)), "cube_len": cube_len,
    }


def untrained_discriminator(config, seed: int | None = None):
    """D of ``config``'s architecture with a fresh seeded initialisation (the baseline to beat)."""
    import keras

    from variants import get_variant

    keras.utils.set_random_seed(config.train.seed if seed is None else seed)
    _, discriminator, _ = get_variant(config.model.variant)(config.variant).build_networks(config.model)
    return discriminator
