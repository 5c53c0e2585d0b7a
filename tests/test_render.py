"""The voxel renderer (data_io.render), the PNG reader/writer (data_io.png), `data render` and `view --png`."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest

from data_io import DataError
from data_io.png import contact_sheet, encode_png, read_png, to_grey, write_png
from data_io.render import (
    LIGHT, MARGIN, camera_axes, pixels_per_voxel, render_view, render_views,
)
from tf3dgan.cli import main

D, S = 16, 64


def cube(lo=4, hi=12, d=D):
    grid = np.zeros((d, d, d), np.uint8)
    grid[lo:hi, lo:hi, lo:hi] = 1
    return grid


def expected_span(lo, hi, size, scale, d=D):
    """Pixel centres inside [lo, hi] grid units (centred on the image), by the documented fitting rule."""
    centres = np.arange(size) + 0.5 - size / 2
    return (centres >= (lo - d / 2) * scale) & (centres <= (hi - d / 2) * scale)


# ---------------------------------------------------------------- geometry


def test_cube_is_a_square_of_the_expected_size():
    scale = S * (1 - 2 * MARGIN) / (D * math.sqrt(2))  # elevation 0: the grid fits at azimuth 45
    assert pixels_per_voxel(D, S, 0) == pytest.approx(scale)
    span = expected_span(4, 12, S, scale)
    assert span.sum() == 20  # 8 voxels * 2.55 px
    silhouette = render_view(cube(), 0, 0, S, "silhouette")
    assert silhouette.dtype == bool
    np.testing.assert_array_equal(silhouette, np.outer(span, span))
    # Seen from the side (azimuth 90) and from above (elevation 90) it is the same square.
    np.testing.assert_array_equal(render_view(cube(), 90, 0, S, "silhouette"), np.outer(span, span))
    top = render_view(cube(), 0, 90, S, "silhouette")
    np.testing.assert_array_equal(top, np.outer(*[expected_span(4, 12, S, pixels_per_voxel(D, S, 90))] * 2))


@pytest.mark.parametrize("size", [8, 31, 256])
def test_solid_silhouettes_have_no_holes(size):
    """Rows and columns of a convex solid's silhouette are contiguous, at any size and view."""
    for az, el in [(30, 25), (45, 0), (10, -40), (200, 70)]:
        silhouette = render_view(cube(3, 13), az, el, size, "silhouette")
        assert silhouette.any()
        for lines in (silhouette, silhouette.T):
            for line in lines:
                on = np.flatnonzero(line)
                if len(on):
                    assert on[-1] - on[0] + 1 == len(on), (az, el, size)


def test_whole_grid_fits_with_the_margin_at_every_azimuth():
    full = np.ones((1, D, D, D), np.uint8)
    sil = render_views(full, np.arange(0, 360, 15), 25, S, "silhouette")[0]
    rows, cols = np.nonzero(sil.any(axis=0))
    low, high = math.floor(MARGIN * S), math.ceil((1 - MARGIN) * S)
    assert rows.min() >= low and cols.min() >= low and rows.max() < high and cols.max() < high
    widths, heights = sil.any(axis=1).sum(axis=1), sil.any(axis=2).sum(axis=1)
    # At elevation 25 the height binds: cos 25 + sqrt 2 sin 25 > sqrt 2; the grid fills it at azimuth 45.
    assert heights.max() >= (1 - 2 * MARGIN) * S - 2 and heights.argmax() % 6 == 3
    assert widths[0] < widths[3]  # azimuth 0 is narrower than azimuth 45: one scale for all azimuths


def l_shape():
    grid = np.zeros((D, D, D), np.uint8)
    grid[2:14, 3:6, 1:5] = 1  # a long bar along x
    grid[2:5, 3:12, 1:5] = 1  # a shorter one along y, at low x
    grid[11:14, 3:6, 5:12] = 1  # a post at high x
    return grid


def test_l_shape_turns_with_the_azimuth():
    """Azimuth a equals the grid turned by -a about the up axis (axis 2) seen at azimuth 0."""
    grid = l_shape()
    for el in (0, 25):
        for az, k in [(90, -1), (180, 2), (270, 1)]:
            turned = np.rot90(grid, k=k, axes=(0, 1))  # k=1 turns +x towards +y: counter-clockwise from above
            np.testing.assert_array_equal(render_view(grid, az, el, S, "silhouette"),
                                          render_view(turned, 0, el, S, "silhouette"))
            np.testing.assert_allclose(render_view(grid, az, el, S, "depth"), render_view(turned, 0, el, S, "depth"),
                                       atol=1e-4)
        # The opposite turn gives another picture: the check can fail.
        assert (render_view(grid, 90, el, S, "silhouette") != render_view(np.rot90(grid, 1, (0, 1)), 0, el, S,
                                                                          "silhouette")).any()
    assert (render_view(grid, 0, 25, S, "silhouette") != render_view(grid, 90, 25, S, "silhouette")).any()


def test_image_orientation_up_is_up_and_not_mirrored():
    """At azimuth 0 the camera is on the +y side looking along -y: +z is the image's up, -x its right."""
    grid = np.zeros((D, D, D), np.uint8)
    grid[1, 8, 8] = 1  # low x
    grid[8, 8, 14] = 1  # high z
    sil = render_view(grid, 0, 0, S, "silhouette")
    rows, cols = np.nonzero(sil)
    low_x = cols > S / 2 + 10  # the low-x voxel is on the right
    assert low_x.any() and (rows[low_x] > S / 2 - 4).all()
    assert (rows[~low_x] < S / 2 - 10).all()  # the high-z voxel at the top
    right, up, forward = camera_axes([0, 90], [0, 0])
    np.testing.assert_allclose(forward, [[0, -1, 0], [1, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(np.cross(right, up), -forward, atol=1e-12)  # a right-handed camera


def test_depth_is_monotone_on_a_staircase():
    grid = np.zeros((D, D, D), np.uint8)
    for step in range(6):  # step i: x in [2i+2, 2i+4), front face at y = 14 - 2i
        grid[2 * step + 2:2 * step + 4, 2:14 - 2 * step, 4:12] = 1
    depth = render_view(grid, 0, 0, S, "depth")
    assert depth.dtype == np.float32 and np.isinf(depth[0, 0])
    radius = D * math.sqrt(3) / 2
    scale = pixels_per_voxel(D, S, 0)
    row = depth[S // 2]
    values = []
    for step in range(6):
        x = 2 * step + 3  # the step's middle; image column of grid x (the image's right is -x)
        col = int(S / 2 - (x - D / 2) * scale)
        values.append(row[col])
        assert row[col] == pytest.approx(radius - (14 - 2 * step - D / 2), abs=1e-4)
    assert np.all(np.diff(values) == pytest.approx(2.0, abs=1e-4))  # orthographic: 2 voxels per step
    finite = row[np.isfinite(row)]
    assert np.all(np.diff(finite[::-1]) >= -1e-6)  # increasing towards +x (leftwards in the image)


def test_nearer_voxel_has_smaller_depth_from_any_view():
    rng = np.random.default_rng(0)
    for _ in range(8):
        az, el = rng.uniform(0, 360), rng.uniform(-80, 80)
        a, b = rng.integers(0, D, 3), rng.integers(0, D, 3)
        _, _, forward = camera_axes([az], [el])
        distance = [(np.asarray(p) + 0.5 - D / 2) @ forward[0] for p in (a, b)]
        if abs(distance[0] - distance[1]) < 1.0:
            continue
        nearest = []
        for p, dist in zip((a, b), distance):
            grid = np.zeros((D, D, D), np.uint8)
            grid[tuple(p)] = 1
            depth = render_view(grid, az, el, S, "depth")
            nearest.append(depth[np.isfinite(depth)].min())
            radius = D * math.sqrt(3) / 2
            assert dist + radius - np.abs(forward[0]).sum() / 2 - 1e-4 <= nearest[-1] <= dist + radius + 1e-4
        assert (nearest[0] < nearest[1]) == (distance[0] < distance[1])


def test_probabilities_threshold_and_batched_shapes():
    probs = cube().astype(np.float32) * 0.6
    assert render_view(probs, 0, 0, S, "silhouette").any()
    assert not render_view(probs, 0, 0, S, "silhouette", threshold=0.7).any()
    grids = np.stack([cube(), l_shape(), np.zeros((D, D, D), np.uint8)])
    out = render_views(grids, [0, 120, 240], 30, 32, "shaded", batch=2)
    assert out.shape == (3, 3, 32, 32) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[1, 2], render_view(l_shape(), 240, 30, 32))
    assert not out[2].any()  # an empty grid renders as background
    assert render_views(cube(), [0, 90], [0, 10], 16, "depth").shape == (2, 16, 16)  # one grid: (V, S, S)


@pytest.mark.parametrize("bad", [dict(size=7), dict(kind="normals"), dict(elevations=[91]),
                                 dict(azimuths=[0, 1], elevations=[0, 1, 2])])
def test_bad_render_arguments(bad):
    args = dict(azimuths=[0], elevations=[0], size=32, kind="shaded") | bad
    with pytest.raises(DataError, match="render:"):
        render_views(cube()[None], **args)


# ---------------------------------------------------------------- shading


def test_shaded_background_and_the_lit_face_brighter():
    """Azimuth 45, elevation 0: the +y face on the image's left faces the light, the -x face on the right grazes it."""
    shaded = render_view(cube(), 45, 0, S)
    silhouette = render_view(cube(), 45, 0, S, "silhouette")
    assert shaded.dtype == np.uint8
    assert (shaded[~silhouette] == 0).all() and (shaded[silhouette] >= 1).all()
    row = shaded[S // 2]
    on = np.flatnonzero(row)
    left, right = row[on[2]:S // 2 - 2], row[S // 2 + 2:on[-1] - 1]
    assert left.min() > right.max() + 60
    right_axis, up, forward = camera_axes([45], [0])
    light = LIGHT[0] * right_axis[0] + LIGHT[1] * up[0] - LIGHT[2] * forward[0]
    assert light @ [0, 1, 0] > 0.7 and 0 < light @ [-1, 0, 0] < 0.15  # the faces' Lambert terms
    # From above (elevation 25) the top face is the brightest.
    shaded = render_view(cube(), 45, 25, S)
    top_row = np.flatnonzero(shaded.any(axis=1))[0]
    assert shaded[top_row + 3][shaded[top_row + 3] > 0].mean() > shaded[S // 2 + 8, S // 2 + 8]


# ---------------------------------------------------------------- PNG


def test_png_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    for shape in [(7, 5), (1, 1), (3, 11, 3), (9, 4, 4), (5, 6, 2)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        path = write_png(tmp_path / f"im_{len(shape)}_{shape[-1]}.png", image)
        back = read_png(path)
        assert back.dtype == np.uint8 and back.shape == image.shape
        np.testing.assert_array_equal(back, image)
    np.testing.assert_array_equal(read_png(write_png(tmp_path / "b.png", np.eye(3, dtype=bool))), np.eye(3) * 255)
    with pytest.raises(DataError, match="uint8"):
        encode_png(np.zeros((2, 2), np.float32))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filtered_png(image: np.ndarray, filters, colour_type: int, depth=8, interlace=0) -> bytes:
    """A PNG whose row y uses filter filters[y % len(filters)], filtered by the PNG spec (independently)."""
    height, width = image.shape[:2]
    bpp = 1 if image.ndim == 2 else image.shape[2]
    rows = image.reshape(height, -1).astype(int)
    raw = bytearray()
    for y in range(height):
        kind = filters[y % len(filters)]
        raw.append(kind)
        for i in range(rows.shape[1]):
            x = rows[y, i]
            a = rows[y, i - bpp] if i >= bpp else 0
            b = rows[y - 1, i] if y else 0
            c = rows[y - 1, i - bpp] if y and i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, _paeth(a, b, c)][kind]
            raw.append((x - pred) % 256)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tEXt", b"note\x00hand made")
            + chunk(b"IDAT", zlib.compress(bytes(raw))[:10]) + chunk(b"IDAT", zlib.compress(bytes(raw))[10:])
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("filters", [[0], [1], [2], [3], [4], [4, 3, 2, 1, 0]])
def test_png_reads_every_filter_type(filters, tmp_path):
    rng = np.random.default_rng(2)
    for image, colour in [(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8), 2),
                          (rng.integers(0, 256, (5, 7), dtype=np.uint8), 0),
                          (rng.integers(0, 256, (4, 3, 4), dtype=np.uint8), 6)]:
        path = tmp_path / "f.png"
        path.write_bytes(_filtered_png(image, filters, colour))
        np.testing.assert_array_equal(read_png(path), image)


def test_png_reads_pillow_files(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    image = (np.add.outer(np.arange(40), np.arange(30))[:, :, None] * [1, 2, 3] % 256).astype(np.uint8)
    for mode, data in [("RGB", image), ("L", image[:, :, 0]), ("RGBA", np.dstack([image, image[:, :, :1]]))]:
        Image.fromarray(data, mode).save(tmp_path / "p.png", optimize=True)
        np.testing.assert_array_equal(read_png(tmp_path / "p.png"), data)
    write_png(tmp_path / "ours.png", image)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "ours.png")), image)


def test_png_errors_name_the_file(tmp_path):
    good = encode_png(np.full((8, 8, 3), 7, np.uint8))
    cases = {
        "text.png": (b"hello, not an image", "not a PNG file"),
        "half.png": (good[: len(good) // 2], "truncated PNG"),
        "sig.png": (good[:4], "truncated PNG"),
        "noend.png": (good[:-12], "truncated PNG"),
        "interlaced.png": (_filtered_png(np.zeros((2, 2), np.uint8), [0], 0, interlace=1),
                           "interlaced PNGs are not supported"),
        "deep.png": (_filtered_png(np.zeros((2, 2), np.uint8), [0], 0, depth=16), "16-bit PNGs are not supported"),
        "palette.png": (_filtered_png(np.zeros((2, 2), np.uint8), [0], 3), "palette PNGs are not supported"),
        "crc.png": (good[:40] + bytes([good[40] ^ 1]) + good[41:], "corrupt PNG"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError) as err:
            read_png(tmp_path / name)
        text = str(err.value)
        assert text.startswith(str(tmp_path / name)) and message in text and "\n" not in text, text
    with pytest.raises(DataError, match="8-bit grey, grey\\+alpha, RGB or RGBA"):
        read_png(tmp_path / "palette.png")
    with pytest.raises(DataError, match="no such file"):
        read_png(tmp_path / "missing.png")


def test_to_grey_and_contact_sheet():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = [255, 255, 255]
    assert to_grey(rgb)[0, 0] == 255 and to_grey(rgb)[1, 1] == 0
    assert to_grey(np.dstack([rgb, np.zeros((2, 2), np.uint8)]), background=9).max() == 9  # fully transparent
    tiles = [np.full((10, 12), v, np.uint8) for v in (50, 100, 150, 200, 250)]
    sheet = contact_sheet(tiles, columns=2, pad=3, labels=["a1", "b2"])
    assert sheet.shape == (3 * 13 + 3, 2 * 15 + 3)
    assert sheet[0, 0] == 64 and sheet[3, 3] == 96  # background, then the tile's border
    assert sheet[3 + 13 * 2 + 5, 3 + 15 + 6] == 64  # the empty sixth cell
    assert sheet[3 + 13 * 2 + 5, 3 + 6] == 250
    assert (sheet[5:10, 5:13] == 255).any()  # label pixels
    assert contact_sheet([np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.uint8)], pad=0).shape == (4, 8, 3)
    with pytest.raises(DataError, match="differ in shape"):
        contact_sheet([np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8)])


# ---------------------------------------------------------------- commands


def test_data_render_of_an_unlabelled_source_reads_back(tmp_path):
    from data_io import read_source

    grids = np.zeros((3, 8, 8, 8), np.uint8)
    grids[:, 2:6, 2:6, 0:5] = 1
    np.save(tmp_path / "grids.npy", grids)
    out = tmp_path / "views.npz"
    assert main(["data", "render", str(tmp_path / "grids.npy"), "--views", "2", "--size", "16", "--out", str(out)]) == 0
    with np.load(out) as data:
        assert "labels" not in data.files  # not -1s, which the package's own reader refuses
    back = read_source(out)
    assert back.labels is None
    np.testing.assert_array_equal(back.voxels, grids)


def test_data_render_synthetic_end_to_end(tmp_path, capsys):
    out = tmp_path / "views.npz"
    args = ["data", "render", "synthetic", "--views", "3", "--size", "32", "--cube-len", "16", "--count", "4"]
    assert main([*args, "--out", str(out)]) == 0
    assert "4 shapes of 16^3 x 3 shaded views of 32x32" in capsys.readouterr().out
    with np.load(out) as data:
        assert data["images"].shape == (4, 3, 32, 32) and data["images"].dtype == np.uint8
        assert data["voxels"].shape == (4, 16, 16, 16) and data["voxels"].dtype == np.uint8
        np.testing.assert_allclose(data["azimuths"], [0, 120, 240])
        np.testing.assert_allclose(data["elevations"], [25, 25, 25])
        assert str(data["kind"]) == "shaded" and len(data["labels"]) == 4 and len(data["class_names"]) == 6
        np.testing.assert_array_equal(data["images"], render_views(data["voxels"], [0, 120, 240], 25, 32))
        train = data["voxels"]
    assert main([*args, "--split", "test", "--kind", "silhouette", "--elevation", "0", "--out", str(out)]) == 0
    with np.load(out) as data:
        assert set(np.unique(data["images"])) <= {0, 255} and not np.array_equal(data["voxels"], train)
    assert main([*args, "--kind", "depth", "--out", str(out)]) == 0
    with np.load(out) as data:
        assert data["images"].max() == 255 and data["images"].min() < 200  # background 255, depth below
    # The rendered set is a voxel source itself.
    assert main(["data", "render", str(out), "--views", "1", "--size", "16", "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again.npz").is_file()
    capsys.readouterr()
    for bad, message in [(["--views", "0"], "--views must be >= 1"), (["--size", "4"], "--size must be >= 8"),
                         (["--elevation", "100"], "--elevation must be within")]:
        assert main(["data", "render", "synthetic", *bad, "--out", str(tmp_path / "x.npz")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert main(["data", "render", str(tmp_path / "missing"), "--out", str(tmp_path / "x.npz")]) == 2
    assert not (tmp_path / "x.npz").exists()


def test_view_png_contact_sheet(tmp_path, capsys):
    probabilities = np.zeros((5, 16, 16, 16), np.float32)
    for i in range(5):
        probabilities[i, 2:6 + 2 * i, 3:9, 3:9] = 0.8
    sample = tmp_path / "samples.npz"
    np.savez_compressed(sample, probabilities=probabilities)
    assert main(["view", str(sample), "--png", "--columns", "2", "--image-size", "32"]) == 0
    image = read_png(tmp_path / "samples.png")
    assert image.shape == (3 * (32 + 2) + 2, 2 * (32 + 2) + 2)  # 5 shapes in 2 columns: 3 rows
    assert "samples.png: 70x104 PNG, 5 of 5 shapes" in capsys.readouterr().out
    out = tmp_path / "two.png"
    assert main(["view", str(sample), "--png", "--index", "0", "4", "--out", str(out), "--image-size", "48"]) == 0
    assert read_png(out).shape == (50 + 2, 2 * 50 + 2)
    assert main(["view", str(sample), "--png", "--out", str(tmp_path / "x.html")]) == 2
    assert main(["view", str(sample), "--png", "--image-size", "4"]) == 2
