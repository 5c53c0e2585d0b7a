"""Latent distributions: the blog's Gaussian N(0, 0.33) (default) and the paper release's uniform U(0, 1)."""

from __future__ import annotations

import keras

DISTRIBUTIONS = ("normal", "uniform")  # latent.distribution's choices (tf3dgan.config lists them too)


class LatentSampler:
    """Draws latent batches of shape (n, z_dim) from ``distribution`` (one of ``DISTRIBUTIONS``)."""

    def __init__(self, z_dim: int, distribution: str, std: float):
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"latent distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
        self.z_dim = z_dim
        self.distribution = distribution
        self.std = std

    @property
    def mean(self) -> float:
        """The mean of one coordinate: 0 for N(0, std^2), 0.5 for U(0, 1)."""
        return 0.0 if self.distribution == "normal" else 0.5

    @property
    def spread(self) -> float:
        """The standard deviation of one coordinate: std for N(0, std^2), 1/sqrt(12) for U(0, 1)."""
        return float(self.std) if self.distribution == "normal" else 1.0 / 12.0**0.5

    def sample(self, n, seed) -> "keras.KerasTensor":
        """``seed``: a ``keras.random.SeedGenerator`` (stateful, checkpointed) or an int."""
        if self.distribution == "normal":
            return keras.random.normal((n, self.z_dim), mean=0.0, stddev=self.std, seed=seed)
        return keras.random.uniform((n, self.z_dim), minval=0.0, maxval=1.0, seed=seed)
