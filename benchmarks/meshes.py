"""Mesh files: the OFF reader against trimesh's, and the solid voxelizer against trimesh's (speed, exactness).

    python benchmarks/meshes.py [--faces 100000] [--size 64]

Exactness is measured on a sphere, where the true grid is known: the voxels whose cube meets the ball
(a surface-inclusive voxelization, what both voxelizers aim at), as IoU and missed / extra voxels.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (sys.path, TF quiet)
import numpy as np

from data_io.off_mesh import fit_to_grid, read_off, voxelize_mesh

SHARED_OFF = common.REPO.parent / "shared" / "data" / "off"


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def write_off(path, vertices, faces):
    with open(path, "w") as f:
        f.write(f"OFF\n{len(vertices)} {len(faces)} 0\n")
        np.savetxt(f, vertices, fmt="%.6f")
        np.savetxt(f, faces, fmt="3 %d %d %d")


def sphere(min_faces):
    import trimesh

    count = int(np.ceil(np.sqrt(min_faces / 4))) + 1  # a UV sphere has about 4 count^2 faces
    return trimesh.creation.uv_sphere(radius=1.0, count=[count, count])


def trimesh_voxelize(vertices, faces, size):
    """trimesh's subdivide voxelizer + fill, on the same grid as ours (voxel i covers [i, i+1))."""
    import trimesh

    grid_vertices = fit_to_grid(np.asarray(vertices, np.float64), size) - 0.5  # trimesh centres on integers
    voxels = trimesh.Trimesh(grid_vertices, faces, process=False).voxelized(pitch=1.0, method="subdivide").fill()
    out = np.zeros((size,) * 3, np.uint8)
    idx = np.round(voxels.points).astype(int)
    idx = idx[((idx >= 0) & (idx < size)).all(1)]
    out[idx[:, 0], idx[:, 1], idx[:, 2]] = 1
    return out


def true_ball(size, radius_vox):
    """Voxels (cube [i, i+1)^3 in grid units) that meet the ball centred in the grid."""
    c = size / 2
    lo = np.arange(size, dtype=np.float64)
    nearest = np.clip(c, lo, lo + 1) - c  # per axis: offset from the centre to the nearest point of the voxel
    d2 = nearest[:, None, None] ** 2 + nearest[None, :, None] ** 2 + nearest[None, None, :] ** 2
    return (d2 <= radius_vox ** 2).astype(np.uint8)


def compare(name, grid, truth):
    inter = int((grid & truth).sum())
    union = int((grid | truth).sum())
    return f"{name}: IoU {inter / union:.4f}, missed {int((truth & ~grid.astype(bool)).sum())}, " \
           f"extra {int((grid.astype(bool) & ~truth.astype(bool)).sum())}"


def main():
    import trimesh

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()

    ball = sphere(args.faces)
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "sphere.off"
        write_off(big, ball.vertices, ball.faces)
        files = [big] + sorted(SHARED_OFF.glob("*.off"))
        print("OFF reading (best of 3):")
        for path in files:
            ours, (v, f) = best_of(lambda: read_off(path))
            theirs, mesh = best_of(lambda: trimesh.load(path, file_type="off", process=False))
            same = np.array_equal(f, mesh.faces) and np.allclose(v, mesh.vertices)
            print(f"  {path.name}: {len(f)} faces: data_io.read_off {ours * 1000:.1f} ms, "
                  f"trimesh.load {theirs * 1000:.1f} ms, same mesh {same}")

    print(f"Voxelizing at {args.size}^3 (best of 3):")
    meshes = [("sphere", ball.vertices, ball.faces)]
    meshes += [(p.name, *read_off(p)) for p in sorted(SHARED_OFF.glob("*.off"))]
    for name, vertices, faces in meshes:
        ours_t, ours = best_of(lambda: voxelize_mesh(vertices, faces, args.size))
        theirs_t, theirs = best_of(lambda: trimesh_voxelize(vertices, faces, args.size))
        line = f"  {name} ({len(faces)} faces): data_io {ours_t:.3f} s, {int(ours.sum())} voxels; " \
               f"trimesh subdivide+fill {theirs_t:.3f} s, {int(theirs.sum())} voxels"
        print(line)
        if name == "sphere":
            truth = true_ball(args.size, args.size / 2)
            print("   ", compare("data_io", ours, truth), "|", compare("trimesh", theirs, truth))
        else:
            print("    agreement (IoU of the two):", f"{(ours & theirs).sum() / (ours | theirs).sum():.4f}")


if __name__ == "__main__":
    main()
