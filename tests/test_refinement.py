"""The render-and-compare search of `reconstruct --refine`: azimuth estimates, a falling pixel error, seeding."""

from types import SimpleNamespace

import numpy as np
import pytest

from data_io.render import even_azimuths, render_views
from tf3dgan.generation.refinement import estimate_azimuths, refine_latents, round_scales
from tf3dgan.nn.latent import LatentSampler
from variants.base import ImageInput

SPEC = ImageInput(size=24, rendered_views=8, elevation=25.0)


class BoxGenerator:
    """A stand-in for a trained run: z (2,) -> an L-shaped block at 16^3 whose length and height z sets."""

    def __init__(self):
        self.variant = SimpleNamespace(image_input=lambda: SPEC)
        self.latent = LatentSampler(2, "normal", std=1.0)

    def generate(self, z, batch_size=32):
        z = np.asarray(z, np.float32)
        grids = np.zeros((len(z), 16, 16, 16), np.float32)
        for grid, (a, b) in zip(grids, z):
            length = int(np.clip(round(8 + 3 * a), 2, 14))
            height = int(np.clip(round(6 + 3 * b), 2, 14))
            grid[2:2 + length, 6:10, 1:3] = 1  # the foot of the L, along x
            grid[2:4, 6:10, 1:1 + height] = 1  # its upright
        return grids


def test_round_scales_halve_twice():
    np.testing.assert_allclose(round_scales(8), [0.6, 0.6, 0.6, 0.3, 0.3, 0.3, 0.15, 0.15])
    assert len(round_scales(0)) == 0


def test_azimuth_estimate_finds_the_view_of_an_asymmetric_shape():
    gan = BoxGenerator()
    z = np.array([[1.0, 1.5]], np.float32)
    views = render_views(gan.generate(z), even_azimuths(8)[[3, 6]], 25.0, SPEC.size)
    np.testing.assert_array_equal(estimate_azimuths(gan, views, z), [[3, 6]])


def test_search_lowers_the_pixel_error_towards_the_pictured_shape():
    gan = BoxGenerator()
    target = np.array([[1.0, 1.5], [-1.0, 0.5]], np.float32)
    pictures = np.stack([render_views(gan.generate(t[None])[0], even_azimuths(8)[[1, 2]], 25.0, SPEC.size)
                         for t in target])
    start = target + np.array([[-1.0, -1.0], [1.0, 1.0]], np.float32)
    result = refine_latents(gan, pictures, start, rounds=6, candidates=16, seed=0)
    assert (result["pixel_error"] < result["start_pixel_error"]).all()
    assert np.abs(result["z"] - target).sum() < np.abs(start - target).sum()
    again = refine_latents(gan, pictures, start, rounds=6, candidates=16, seed=0)
    np.testing.assert_array_equal(again["z"], result["z"])
    unchanged = refine_latents(gan, pictures, start, rounds=0)
    np.testing.assert_array_equal(unchanged["z"], start)
    np.testing.assert_array_equal(unchanged["pixel_error"], unchanged["start_pixel_error"])
    with pytest.raises(ValueError, match="candidates >= 1"):
        refine_latents(gan, pictures, start, rounds=1, candidates=0)
