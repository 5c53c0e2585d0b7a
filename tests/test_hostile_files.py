"""Hostile and odd input files (issue 32, items 5, 6, 10, 12): crafted Torch7 files, decompression and
allocation bombs in PNG / binvox / .off / .npz headers, and odd output or file names. Each is refused with
one line naming the file, before anything is allocated or read out of bounds."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import zipfile
import zlib

import numpy as np
import pytest

from data_io import DataError, read_binvox, read_off, read_png, read_source, write_binvox, write_png
from data_io.arrays import read_array
from data_io.torch7 import ObjectKey, TorchObject, read_torch7
from torch7_writer import release_net, write_torch7
from tf3dgan.cli import main
from harness import one_line_error, run_capped

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _one_line(err, path) -> str:
    message = str(err)
    assert "\n" not in message and str(path) in message, message
    return message


# -- Torch7 files written by hand: the format's pieces ------------------------------------------------------


def t7_int(v: int) -> bytes:
    return struct.pack("<i", v)


def t7_long(v: int) -> bytes:
    return struct.pack("<q", v)


def t7_str(s: str) -> bytes:
    return t7_int(len(s)) + s.encode("latin-1")


def t7_number(x: float) -> bytes:
    return t7_int(1) + struct.pack("<d", x)


def t7_string(s: str) -> bytes:
    return t7_int(2) + t7_str(s)


def t7_table(index: int, pairs) -> bytes:
    return t7_int(3) + t7_int(index) + t7_int(len(pairs)) + b"".join(k + v for k, v in pairs)


def t7_ref(tag: int, index: int) -> bytes:
    """An object already written (3: table, 4: torch object), by its reference index."""
    return t7_int(tag) + t7_int(index)


def t7_torch(index: int, class_name: str, body: bytes, version: str = "V 1") -> bytes:
    return t7_int(4) + t7_int(index) + t7_str(version) + t7_str(class_name) + body


def t7_float_tensor(sizes, strides, offset, storage_values) -> bytes:
    """A torch.FloatTensor (1-based ``offset``) over a FloatStorage of ``storage_values``."""
    storage = t7_torch(2, "torch.FloatStorage", t7_long(len(storage_values))
                       + np.asarray(storage_values, "<f4").tobytes())
    header = t7_int(len(sizes)) + b"".join(map(t7_long, sizes)) + b"".join(map(t7_long, strides)) + t7_long(offset)
    return t7_torch(1, "torch.FloatTensor", header + storage)


# -- item 5: tensors that reach outside their storage -------------------------------------------------------


@pytest.mark.parametrize("sizes, strides, offset, expected", [
    ((1_000_000,), (-(2 ** 40),), 1, "strides must be >= 0"),  # the segfault of the issue
    ((2,), (-1,), 1, "strides must be >= 0"),  # read the storage's size field as data
    ((-1,), (1,), 1, "sizes and strides must be >= 0"),  # ValueError: negative dimensions
    ((3,), (1,), 3, "runs past its storage"),  # offset past the end
    ((2,), (1,), 0, "runs past its storage"),  # offset before the start
    ((2, 2), (1, 2 ** 62), 1, "runs past its storage"),  # the last element past the end
    ((2 ** 40,), (0,), 1, "over the limit"),  # a zero-stride 4 TiB tensor: MemoryError
    ((1, 2 ** 62), (2 ** 62, 0), 1, "over the limit"),
])
def test_torch7_tensors_are_checked_against_their_storage(tmp_path, sizes, strides, offset, expected):
    path = tmp_path / "crafted.t7"
    path.write_bytes(t7_float_tensor(sizes, strides, offset, [1.0, 2.0, 3.0]))
    with pytest.raises(DataError, match=expected) as err:
        read_torch7(path)
    _one_line(err.value, path)


def test_torch7_tensor_views_of_a_storage_are_read(tmp_path):
    path = tmp_path / "view.t7"
    path.write_bytes(t7_float_tensor((2, 2), (1, 0), 2, [1.0, 2.0, 3.0]))  # an expanded column, offset 2
    np.testing.assert_array_equal(read_torch7(path), [[2.0, 2.0], [3.0, 3.0]])
    path.write_bytes(t7_float_tensor((1, 3), (2 ** 62, 1), 1, [1.0, 2.0, 3.0]))  # a size-1 dimension's stride
    np.testing.assert_array_equal(read_torch7(path), [[1.0, 2.0, 3.0]])


def test_torch7_tensor_without_a_storage_of_its_type_is_refused(tmp_path):
    path = tmp_path / "no_storage.t7"
    header = t7_int(1) + t7_long(4) + t7_long(1) + t7_long(1)
    for storage in (t7_table(2, []), t7_number(3.0), t7_int(0)):
        path.write_bytes(t7_torch(1, "torch.FloatTensor", header + storage))
        with pytest.raises(DataError, match="has no storage of its element type") as err:
            read_torch7(path)
        _one_line(err.value, path)


def test_torch7_deep_nesting_is_one_line_and_moderate_nesting_reads(tmp_path):
    def nested(depth):
        head = b"".join(t7_int(3) + t7_int(i + 1) + t7_int(1) + t7_number(1.0) for i in range(depth))
        return head + t7_int(0)

    path = tmp_path / "deep.t7"
    path.write_bytes(nested(20_000))  # RecursionError
    with pytest.raises(DataError, match="nested deeper than") as err:
        read_torch7(path)
    _one_line(err.value, path)
    path.write_bytes(nested(3000))
    table, depth = read_torch7(path), 0
    while table is not None:
        table, depth = table[1.0], depth + 1
    assert depth == 3000


def test_torch7_tables_and_torch_objects_as_keys_are_read(tmp_path):
    path = tmp_path / "self_key.t7"
    path.write_bytes(t7_table(1, [(t7_ref(3, 1), t7_string("me")), (t7_string("n"), t7_number(2.0))]))
    table = read_torch7(path)  # a table that holds itself as a key
    key = next(k for k in table if isinstance(k, ObjectKey))
    assert key.value is table and table[key] == "me" and table["n"] == 2.0

    # nngraph's gModule: its graph keys the node objects (graph.Graph:add sets nodes[node] = #nodes).
    node = t7_torch(3, "nngraph.Node", t7_table(4, [(t7_string("id"), t7_number(7.0))]))
    nodes = t7_table(5, [(t7_number(1.0), node), (t7_ref(4, 3), t7_number(1.0))])
    graph = t7_torch(6, "graph.Graph", t7_table(7, [(t7_string("nodes"), nodes)]))
    path = tmp_path / "gmodule.t7"
    path.write_bytes(t7_torch(1, "nn.gModule", t7_table(2, [(t7_string("fg"), graph)])))
    net = read_torch7(path)
    graph_nodes = net["fg"]["nodes"]
    first = graph_nodes[1.0]
    assert first.class_name == "nngraph.Node" and first["id"] == 7.0
    assert [graph_nodes[k] for k in graph_nodes if isinstance(k, ObjectKey) and k.value is first] == [1.0]


def test_torch7_tds_containers_are_read_and_custom_serializers_refused(tmp_path):
    path = tmp_path / "hash.t7"
    path.write_bytes(t7_torch(1, "tds.Hash", t7_long(2) + t7_string("a") + t7_number(1.0)
                              + t7_number(2.0) + t7_torch(2, "tds.Vec", t7_long(2) + t7_string("x") + t7_number(3.0),
                                                          version="V 0"), version="V 0"))
    assert read_torch7(path) == {"a": 1.0, 2.0: ["x", 3.0]}

    path = tmp_path / "custom.t7"
    path.write_bytes(t7_torch(1, "threads.SharedHash", t7_long(0x7F0012345678)))
    with pytest.raises(DataError, match="threads.SharedHash .* its own serializer") as err:
        read_torch7(path)
    _one_line(err.value, path)


# -- item 5: the fuzz test -----------------------------------------------------------------------------------


def _tensor_fields(data: bytes) -> list:
    """``(position, width)`` of every nDimension, size, stride, offset and storage-size field in a Torch7 file
    written by ``write_torch7`` (each follows its class name)."""
    fields, start = [], 0
    while (at := data.find(b"torch.", start)) >= 0:
        length = struct.unpack_from("<i", data, at - 4)[0]
        end, name = at + length, data[at:at + length]
        start = end
        if name.endswith(b"Storage"):
            fields.append((end, 8))
        elif name.endswith(b"Tensor"):
            ndim = struct.unpack_from("<i", data, end)[0]
            fields += [(end, 4)] + [(end + 4 + 8 * k, 8) for k in range(2 * ndim + 1)]
    return fields


INTERESTING = [-1, 0, 1, 2, 3, 5, 64, 255, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 2 ** 40, -(2 ** 40), 2 ** 62,
               2 ** 63 - 1, -(2 ** 63)]


def _mutants(data: bytes, count: int, seed: int, fields_only: bool = False):
    """``count`` seeded mutations of ``data``: (description, bytes)."""
    rng = np.random.default_rng(seed)
    fields = _tensor_fields(data)
    for case in range(count):
        mutant = bytearray(data)
        kinds = ["field", "field", "bits", "truncate", "int32", "int64"] if fields else ["bits", "truncate", "int32",
                                                                                     "int64"]
        kind = "field" if fields_only else rng.choice(kinds)
        if kind == "field":
            pos, width = fields[rng.integers(len(fields))]
            value = int(rng.choice(INTERESTING))
            if width == 4:
                value = int(np.clip(value, -(2 ** 31), 2 ** 31 - 1))
            mutant[pos:pos + width] = value.to_bytes(width, "little", signed=True)
            what = f"field at {pos} = {value}"
        elif kind == "bits":
            positions = rng.integers(len(data), size=rng.integers(1, 4))
            for pos in positions:
                mutant[pos] ^= 1 << int(rng.integers(8))
            what = f"bit flips at {sorted(positions.tolist())}"
        elif kind == "truncate":
            cut = int(rng.integers(len(data)))
            mutant = mutant[:cut]
            what = f"truncated to {cut} bytes"
        else:
            width = 4 if kind == "int32" else 8
            pos = int(rng.integers(len(data) - width))
            value = int(np.clip(rng.choice(INTERESTING), -(2 ** (8 * width - 1)), 2 ** (8 * width - 1) - 1))
            mutant[pos:pos + width] = value.to_bytes(width, "little", signed=True)
            what = f"{kind} at {pos} = {value}"
        yield f"case {case}: {what}", bytes(mutant)


def _arrays(value, seen=None):
    """Every numpy array inside a value read by read_torch7 (cycles followed once)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _arrays(key.value if isinstance(key, ObjectKey) else key, seen)
            yield from _arrays(item, seen)
    elif isinstance(value, list):
        for item in value:
            yield from _arrays(item, seen)
    elif isinstance(value, TorchObject):
        yield from _arrays(value.fields, seen)


FUZZ_CASES = 400


def test_fuzzed_torch7_files_read_or_fail_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TF3DGAN_MAX_ARRAY_BYTES", str(2 ** 20))  # a mutated size may not allocate gigabytes
    value = {"weight": np.arange(1, 25, dtype=np.float32).reshape(2, 3, 4).transpose(2, 0, 1),
             "bias": np.arange(100, 103, dtype=np.float64), "steps": np.arange(7, 12, dtype=np.int64),
             "empty": np.zeros((0, 3), np.float32), "name": "net", "flag": True,
             "module": TorchObject("nn.ReLU", {"inplace": False, "sizes": [1.0, 2.0]})}
    write_torch7(tmp_path / "valid.t7", value)
    data = (tmp_path / "valid.t7").read_bytes()
    path = tmp_path / "mutant.t7"
    failures, refused = [], 0
    for what, mutant in _mutants(data, FUZZ_CASES, seed=32):
        path.write_bytes(mutant)
        try:
            result = read_torch7(path)
        except DataError as err:
            refused += 1
            if "\n" in str(err) or str(path) not in str(err):
                failures.append(f"{what}: message {str(err)!r}")
            continue
        except Exception as err:  # noqa: BLE001  (the point: nothing but a DataError)
            failures.append(f"{what}: {type(err).__name__}: {err}")
            continue
        for array in _arrays(result):  # every value read is a run of bytes of the file
            elements = np.unique(np.ascontiguousarray(array).reshape(-1).view(f"V{array.itemsize}"))
            outside = [e.tobytes() for e in elements if mutant.find(e.tobytes()) < 0]
            if outside:
                failures.append(f"{what}: values not in the file {outside[:3]}")
    assert not failures, "\n".join(failures[:20])
    assert 0.3 * FUZZ_CASES < refused < FUZZ_CASES  # the mutations reach both outcomes


def test_crafted_and_fuzzed_release_files_never_crash_import_release(tmp_path):
    """The segfault of the issue (a 113-byte tensor with a negative stride) and mutated release generators
    through `tf3dgan import-release`, in a child process: exit 0 or 2, one line, never a traceback or signal."""
    files = [tmp_path / "crafted.t7"]
    files[0].write_bytes(t7_float_tensor((1_000_000,), (-(2 ** 40),), 1, [1.0]))
    write_torch7(tmp_path / "release.t7", release_net(np.random.default_rng(0), nz=2, widths=(4, 2, 1)))
    data = (tmp_path / "release.t7").read_bytes()
    for n, (_, mutant) in enumerate(_mutants(data, 8, seed=5, fields_only=True)):
        files.append(tmp_path / f"mutant{n}.t7")
        files[-1].write_bytes(mutant)
    script = ("import sys\nfrom tf3dgan.cli import main\n"
              "for i, f in enumerate(sys.argv[1:]):\n"
              "    print('rc', main(['import-release', f, '--out', f + '.run']), flush=True)\n")
    env = dict(os.environ, TF3DGAN_MAX_ARRAY_BYTES=str(2 ** 24), TF_CPP_MIN_LOG_LEVEL="3")
    child = subprocess.run([sys.executable, "-c", script, *map(str, files)], capture_output=True, text=True,
                           cwd=REPO, env=env, timeout=300)
    assert child.returncode == 0, (child.returncode, child.stderr[-3000:])
    codes = [int(line.split()[1]) for line in child.stdout.splitlines() if line.startswith("rc ")]
    assert len(codes) == len(files) and set(codes) <= {0, 2} and codes[0] == 2, (codes, child.stderr[-3000:])
    errors = [line for line in child.stderr.splitlines() if line.startswith("tf3dgan import-release:")]
    assert "Traceback" not in child.stderr and len(errors) == codes.count(2), child.stderr[-3000:]
    assert "crafted.t7" in errors[0] and "strides must be >= 0" in errors[0]


# -- item 6: decoded sizes are capped before decompressing or allocating --------------------------------------


def _png(width: int, height: int, idat: bytes) -> bytes:
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_png_size_is_capped_before_decompressing(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"  # a 30,000^2 header: 8.6 GB of memory in `reconstruct` before the cap
    path.write_bytes(_png(30_000, 30_000, zlib.compress(bytes(30_001 * 64))))
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"30000x30000 image has 900,000,000 pixels, over the limit of 16,777,216 "
                                        r"\(set TF3DGAN_MAX_IMAGE_PIXELS"):
        read_png(path)
    assert time.perf_counter() - start < 1

    write_png(tmp_path / "small.png", np.zeros((40, 50), np.uint8))
    monkeypatch.setenv("TF3DGAN_MAX_IMAGE_PIXELS", "1999")
    with pytest.raises(DataError, match="a 50x40 image has 2,000 pixels, over the limit of 1,999"):
        read_png(tmp_path / "small.png")
    monkeypatch.setenv("TF3DGAN_MAX_IMAGE_PIXELS", "2000")
    assert read_png(tmp_path / "small.png").shape == (40, 50)


def test_png_image_data_beyond_its_size_is_not_decompressed(tmp_path):
    path = tmp_path / "bomb.png"  # 10x10 pixels over 50 MB of zeros (50 KB compressed)
    path.write_bytes(_png(10, 10, zlib.compress(bytes(50 * 2 ** 20), 9)))
    with pytest.raises(DataError, match="more image data than 10x10 pixels") as err:
        read_png(path)
    _one_line(err.value, path)


def test_binvox_dimensions_are_capped(tmp_path, monkeypatch):
    path = tmp_path / "wrap.binvox"  # 2^32 * 2^32 * 1 wrapped to 0 voxels in int64: a reshape traceback
    path.write_bytes(b"#binvox 1\ndim 4294967296 4294967296 1\ntranslate 0 0 0\nscale 1\ndata\n")
    with pytest.raises(DataError, match="a 4294967296x4294967296x1 grid has .* over the limit of 1,073,741,824"):
        read_binvox(path)
    write_binvox(tmp_path / "small.binvox", np.ones((4, 4, 4), np.uint8))
    monkeypatch.setenv("TF3DGAN_MAX_GRID_VOXELS", "63")
    with pytest.raises(DataError, match="TF3DGAN_MAX_GRID_VOXELS") as err:
        read_binvox(tmp_path / "small.binvox")
    _one_line(err.value, tmp_path / "small.binvox")


def test_off_counts_are_capped(tmp_path, monkeypatch):
    path = tmp_path / "tetra.off"
    path.write_text("OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n")
    assert read_off(path)[1].shape == (4, 3)
    monkeypatch.setenv("TF3DGAN_MAX_MESH_ELEMENTS", "7")
    with pytest.raises(DataError, match="a mesh of 4 vertices and 4 faces has 8 vertices \\+ faces, over the limit"):
        read_off(path)
    monkeypatch.setenv("TF3DGAN_MAX_MESH_ELEMENTS", "lots")
    with pytest.raises(ValueError, match="TF3DGAN_MAX_MESH_ELEMENTS='lots': expected a positive whole number"):
        read_off(path)


def test_off_of_many_large_triangles_voxelizes_in_bounded_memory(tmp_path, monkeypatch):
    import tracemalloc

    from data_io import off_mesh

    path = tmp_path / "bomb.off"  # 12 KB: 1,000 grid-spanning faces took 40 s and 3.3 GB before
    path.write_text("OFF\n4 1000 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n" + "3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n" * 250)
    tracemalloc.start()
    try:
        start = time.perf_counter()
        grid = off_mesh.read_off_voxels(path, 32)
        seconds, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
        rng = np.random.default_rng(0)  # distinct large triangles: subdivided a chunk at a time
        vertices = np.concatenate([np.eye(3), rng.random((30, 3)) * 0.05])
        faces = np.array([[i % 3, (i + 1) % 3, 3 + i] for i in range(30)])
        whole = off_mesh.voxelize_mesh(vertices, faces, 32)
        monkeypatch.setattr(off_mesh, "_WORK_PER_CHUNK", 2 ** 12)
        tracemalloc.reset_peak()
        chunked = off_mesh.voxelize_mesh(vertices, faces, 32)
        chunked_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert grid.sum() > 0 and seconds < 10 and peak < 300e6, (seconds, peak)
    np.testing.assert_array_equal(chunked, whole)
    assert chunked_peak < 30e6, chunked_peak


def _npz_with_header(path, members) -> None:
    """An .npz whose members are .npy headers of the given (name, shape, dtype) and ``data`` bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, shape, dtype, data in members:
            stream = io.BytesIO()
            np.lib.format.write_array_header_1_0(stream, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                          "shape": shape})
            archive.writestr(name + ".npy", stream.getvalue() + data)


@pytest.mark.parametrize("member", ["voxels", "labels", "names"])
def test_npz_member_shapes_are_checked_before_loading(tmp_path, member, monkeypatch):
    path = tmp_path / "liar.npz"
    members = {"voxels": ("voxels", (2, 4, 4, 4), "|u1", bytes(128)),
               "labels": ("labels", (2,), "<i8", bytes(16)),
               "names": ("names", (2,), "<U3", bytes(24))}
    name, _, dtype, _ = members[member]
    members[member] = (name, (300, 64, 64, 64), dtype, b"")  # 79 MB (or more) promised, none stored
    _npz_with_header(path, members.values())
    with pytest.raises(DataError, match=f"array '{member}' of shape \\(300, 64, 64, 64\\) needs [0-9,]+ bytes "
                                        "of data; the archive holds 0") as err:
        read_array(path)
    _one_line(err.value, path)
    members[member] = (name, (10 ** 6, 128, 128, 128), dtype, b"")
    _npz_with_header(path, members.values())
    with pytest.raises(DataError, match="over the limit of 4,294,967,296 .set TF3DGAN_MAX_ARRAY_BYTES"):
        read_source(path)


def test_view_checks_npz_probabilities_before_loading(tmp_path, capsys):
    path = tmp_path / "samples.npz"
    _npz_with_header(path, [("probabilities", (3000, 64, 64, 64), "<f4", b"")])
    assert main(["view", str(path)]) == 2
    one_line_error(capsys, "samples.npz", "array 'probabilities' of shape (3000, 64, 64, 64) needs")


# -- items 10 and 12: odd output and file names ----------------------------------------------------------


def test_import_release_into_a_regular_file_is_one_line(tmp_path, capsys):
    write_torch7(tmp_path / "chair_G_cpu.t7", release_net(np.random.default_rng(0), nz=2, widths=(4, 2, 1)))
    (tmp_path / "taken").write_text("a file")
    for out in ("taken", "taken/run"):
        assert main(["import-release", str(tmp_path / "chair_G_cpu.t7"), "--out", str(tmp_path / out)]) == 2
        one_line_error(capsys, f"{tmp_path / out}:", "choose another --out")
    assert (tmp_path / "taken").read_text() == "a file"


def test_view_of_a_file_name_that_is_not_utf8(tmp_path, capsys):
    name = os.fsdecode(os.fsencode(tmp_path) + b"/chair\xff.binvox")
    write_binvox(name, np.ones((4, 4, 4), np.uint8))
    for extra in ([], ["--png"]):
        assert main(["view", name, *extra]) == 0
        out = capsys.readouterr().out
        assert "chair\\xff." in out and "\n" not in out.strip(), out
    html = (tmp_path / os.fsdecode(b"chair\xff.html")).read_text()
    assert "chair\\xff.binvox" in html
    assert main(["view", name, "--out", os.fsdecode(os.fsencode(tmp_path) + b"/page\xfe.txt")]) == 2
    one_line_error(capsys, "page\\xfe.txt: expected an .html file name")


def test_release_layers_of_a_nested_sequential_are_still_found(tmp_path):
    from tf3dgan.generation.release_import import release_layers

    net = release_net(np.random.default_rng(1), nz=2, widths=(4, 2, 1))
    wrapped = TorchObject("nn.Sequential", {"modules": [TorchObject("nn.Sequential", {"modules": net["modules"]})]})
    write_torch7(tmp_path / "nested.t7", wrapped)
    convs, norms = release_layers(tmp_path / "nested.t7")
    assert (len(convs), len(norms)) == (3, 2)


# -- issue 46 item 12: numbers out of range in .off faces and .npz labels ----------------------------------


@pytest.mark.parametrize("command", ["view {path}", "data info {path}", "data convert {path} --out {tmp}/out.npz"])
def test_off_face_index_beyond_int64_is_one_line(tmp_path, capsys, command):
    path = tmp_path / "huge_index.off"  # an OverflowError traceback in every command that reads .off
    path.write_text("OFF\n4 2 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 100000000000000000000000\n3 0 1 2\n")
    with pytest.raises(DataError, match="a face holds a number beyond the int64 range") as err:
        read_off(path)
    _one_line(err.value, path)
    assert main(command.format(path=path, tmp=tmp_path).split()) == 2
    one_line_error(capsys, "huge_index.off", "beyond the int64 range")


def test_npz_labels_beyond_its_class_names_are_one_line(tmp_path, capsys):
    path = tmp_path / "few_names.npz"  # an IndexError traceback in `data info`
    np.savez(path, voxels=np.ones((3, 4, 4, 4), np.uint8), labels=np.array([0, 1, 2]),
             class_names=np.array(["chair", "table"]))
    with pytest.raises(DataError, match="'labels' holds label 2, but 'class_names' names only 2 classes") as err:
        read_source(path)
    _one_line(err.value, path)
    assert main(["data", "info", str(path)]) == 2
    one_line_error(capsys, "few_names.npz", "names only 2 classes")


# -- issue 46 item 8: one read budget for everything a reading decodes ----------------------------------------

MiB = 2 ** 20


def _over_budget(err, path, budget: int) -> None:
    message = _one_line(err.value, path)
    assert f"over the read budget of {budget:,} bytes (set TF3DGAN_MAX_READ_BYTES" in message, message


def zero_stride_tensors(count: int, values: int) -> bytes:
    """A Torch7 table of ``count`` FloatTensors of ``values`` elements, each a zero-stride view of one value:
    a file of a few hundred bytes that decodes to count * values * 4 bytes."""
    storage = t7_torch(2, "torch.FloatStorage", t7_long(1) + np.float32(1).tobytes())
    tensors = [t7_torch(3 + k, "torch.FloatTensor", t7_int(1) + t7_long(values) + t7_long(0) + t7_long(1)
                        + (storage if k == 0 else t7_ref(4, 2))) for k in range(count)]
    return t7_table(1, [(t7_number(k + 1.0), tensor) for k, tensor in enumerate(tensors)])


def test_torch7_tensors_add_up_against_the_read_budget(tmp_path, monkeypatch):
    path = tmp_path / "four_views.t7"  # four tensors, each under the per-array cap, 4 MiB together
    path.write_bytes(zero_stride_tensors(4, MiB // 4))
    monkeypatch.setenv("TF3DGAN_MAX_READ_BYTES", str(3 * MiB))
    with pytest.raises(DataError, match=r"a torch.FloatTensor of shape \(262144,\) needs 1,048,576 bytes on top "
                                        "of the 2,097,[0-9]+ bytes already read") as err:
        read_torch7(path)
    _over_budget(err, path, 3 * MiB)
    monkeypatch.setenv("TF3DGAN_MAX_READ_BYTES", str(5 * MiB))
    assert [len(t) for t in read_torch7(path).values()] == [MiB // 4] * 4
    monkeypatch.setenv("TF3DGAN_MAX_READ_BYTES", "lots")
    with pytest.raises(ValueError, match="TF3DGAN_MAX_READ_BYTES='lots': expected a positive whole number"):
        read_torch7(path)


def test_compressed_mat_is_measured_inflated_before_loading(tmp_path, monkeypatch):
    import scipy.io

    path = tmp_path / "inflates.mat"  # 16 MiB of float64 in a few KB
    scipy.io.savemat(path, {"instance": np.zeros((128, 128, 128))}, do_compression=True)
    assert path.stat().st_size < 100_000
    monkeypatch.setenv("TF3DGAN_MAX_READ_BYTES", str(8 * MiB))
    with pytest.raises(DataError, match="the inflated .mat file needs") as err:
        read_source(path)
    _over_budget(err, path, 8 * MiB)
    monkeypatch.setenv("TF3DGAN_MAX_READ_BYTES", str(64 * MiB))
    assert read_source(path, drop_empty=False).voxels.shape == (1, 128, 128, 128)


def test_view_budgets_probabilities_widened_to_float32(tmp_path, monkeypatch, capsys):
    path = tmp_path / "samples.npz"  # 2 MiB of uint8 that `view` widened to 8 MiB of float32
    np.savez_compressed(path, probabilities=np.zeros((64, 32, 32, 32), np.uint8))
    monkeypatch.setenv("TF3DGAN_MAX_READ_BYTES", str(6 * MiB))
    assert main(["view", str(path)]) == 2
    one_line_error(capsys, "samples.npz: array 'probabilities' of shape (64, 32, 32, 32) as float32 needs",
                   "over the read budget of 6,291,456 bytes")


def fan_off(path, triangles: int) -> None:
    """A flat fan of ``triangles`` slivers around one vertex (each spans half the grid)."""
    angles = np.linspace(0, 2 * np.pi, triangles + 1)
    rim = "".join(f"{np.cos(a):.6f} {np.sin(a):.6f} 0\n" for a in angles)
    faces = "".join(f"3 0 {k} {k + 1}\n" for k in range(1, triangles + 1))
    path.write_text(f"OFF\n{triangles + 2} {triangles} 0\n0 0 0\n{rim}{faces}")


def test_voxelizer_work_is_bounded_before_voxelizing(tmp_path, monkeypatch):
    path = tmp_path / "fan.off"  # about 0.5 ms a triangle: 30,000 of them took a minute, 3 million an hour
    fan_off(path, 30_000)
    start = time.perf_counter()
    with pytest.raises(DataError, match="a mesh of 30,000 triangles at 32\\^3 has [0-9,]+ units of voxelizer work, "
                                        "over the limit of 30,000,000 .set TF3DGAN_MAX_VOXELIZER_WORK") as err:
        read_source(path)
    assert time.perf_counter() - start < 5
    _one_line(err.value, path)
    fan_off(path, 300)
    monkeypatch.setenv("TF3DGAN_MAX_VOXELIZER_WORK", str(10 ** 6))
    assert read_source(path, size=16).voxels.sum() > 0


# The readers in a child process under a memory cap: each argument is KIND=PATH; the child prints one line per
# file (read, or refused with the error) and then its peak memory above what it held after its imports.
CAPPED_READER = """
import resource, sys
import numpy as np
import data_io
from data_io.torch7 import read_torch7
from data_io.png import read_png
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
readers = {"t7": read_torch7, "png": read_png, "view": None}
for argument in sys.argv[1:]:
    kind, path = argument.split("=", 1)
    try:
        if kind == "view":
            from tf3dgan.commands.view import display_grids, load_grids
            grids, _ = load_grids(__import__("pathlib").Path(path))
            print("shown", display_grids(grids, [0]).shape, flush=True)
            continue
        readers.get(kind, lambda p: data_io.read_source(p, drop_empty=False))(path)
        print("read", path, flush=True)
    except data_io.DataError as err:
        print("refused", str(err).replace(chr(10), "|"), flush=True)
print("peak", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)
"""
READ_BUDGET = 256 * MiB
CAP = 3 * 2 ** 30


def read_capped(files, budget: int = READ_BUDGET, cap: int = CAP, **env) -> tuple[list, int]:
    """``(lines, peak bytes)`` of CAPPED_READER over ``files`` (KIND=PATH), checked to end without a traceback."""
    env = {"TF3DGAN_MAX_READ_BYTES": str(budget), "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    child = run_capped(CAPPED_READER, *map(str, files), memory_bytes=cap, env=env)
    assert child.returncode == 0 and "Traceback" not in child.stderr, (child.returncode, child.stderr[-3000:])
    lines = child.stdout.splitlines()
    assert len(lines) == len(files) + 1 and lines[-1].startswith("peak "), child.stdout[-3000:]
    return lines[:-1], int(lines[-1].split()[1])


def test_out_of_range_values_are_refused_under_a_memory_cap(tmp_path):
    """A 17 KB .npz whose one label is 2^62 (a list of 2^62 class names) and an .off with finite 1e308
    coordinates (an infinite extent): each ran out of memory."""
    labels = tmp_path / "label.npz"
    np.savez(labels, voxels=np.ones((2, 8, 8, 8), np.uint8), labels=np.array([0, 2 ** 62]))
    far = tmp_path / "far.off"
    far.write_text("OFF\n4 4 0\n-1e308 0 0\n1e308 0 0\n0 1e308 0\n0 0 1e308\n3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n")
    (label_line, far_line), peak = read_capped([f"npz={labels}", f"off={far}"])
    assert label_line.startswith("refused") and "names for the 4,611,686,018,427,387,905 classes" in label_line
    assert far_line == f"read {far}"
    assert peak < READ_BUDGET, peak


@pytest.mark.slow  # about 25 s: a 1 GiB grid, and TensorFlow imported in the child
def test_the_documented_binvox_limit_is_shown_by_view(tmp_path):
    """A .binvox at exactly the documented 1024^3 limit through `view`: max-pooled to 128^3 for display, a
    slab at a time, where meshing it whole needed 8 GiB of float32 (a MemoryError under the 8 GB cap)."""
    path = tmp_path / "huge.binvox"
    full, rest = divmod(1024 ** 3, 255)  # stripes of 255 voxels, set and unset in turn: 8 MB of runs
    runs = np.stack([np.arange(full + 1) % 2, np.full(full + 1, 255)], axis=1).astype(np.uint8)
    runs[-1, 1] = rest
    path.write_bytes(b"#binvox 1\ndim 1024 1024 1024\ntranslate 0 0 0\nscale 1\ndata\n" + runs.tobytes())
    (line,), peak = read_capped([f"view={path}"], budget=4 * 2 ** 30, cap=5 * 2 ** 30)
    assert line == "shown (1, 128, 128, 128)", line
    assert peak < 3 * 2 ** 30, peak


# -- issue 46: every reader fed mutated and size-inflated files under a memory cap --------------------------


def _valid_files(folder) -> dict:
    """One small valid file of each kind the readers take: {name: bytes}."""
    import scipy.io

    from data_io import write_npz
    from data_io.voxelset import VoxelSet

    grid = np.zeros((8, 8, 8), np.uint8)
    grid[2:6, 1:7, 3:5] = 1
    write_binvox(folder / "seed.binvox", grid)
    write_npz(folder / "seed.npz", VoxelSet(grid[None].repeat(2, 0), np.array([0, 1]), ["a", "b"], ["x", "y"]))
    np.save(folder / "seed.npy", grid[None])
    scipy.io.savemat(folder / "seed.mat", {"instance": grid}, do_compression=True)
    write_png(folder / "seed.png", grid[0] * 255)
    write_torch7(folder / "seed.t7", {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": 2.0})
    (folder / "seed.off").write_text("OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n")
    return {p.suffix[1:]: p.read_bytes() for p in folder.glob("seed.*")}


def _inflated_files(folder) -> list:
    """Small files that declare or decode to more than READ_BUDGET: (kind, path)."""
    import scipy.io

    files = []

    def add(name, data):
        (folder / name).write_bytes(data)
        files.append((name.rsplit(".", 1)[1], folder / name))

    header = b"#binvox 1\ndim 640 640 640\ntranslate 0 0 0\nscale 1\ndata\n"
    full, rest = divmod(640 ** 3, 255)
    add("inflated.binvox", header + b"\x01\xff" * full + bytes([1, rest]))
    add("short.binvox", header + b"\x01\xff" * 10)
    add("views.t7", zero_stride_tensors(4, 16 * MiB))  # 64 MiB each
    add("counts.off", b"OFF\n19999999 1 0\n0 0 0\n")
    add("far.off", b"OFF\n4 2 0\n0 0 1e308\n-1e308 0 0\n0 1e308 0\n0 0 0\n3 0 1 2\n3 1 2 3\n")
    _npz_with_header(folder / "members.npz", [("voxels", (400, 64, 64, 64), "<f8", bytes(1000))])
    files.append(("npz", folder / "members.npz"))
    scipy.io.savemat(folder / "inflates.mat", {"instance": np.zeros((320, 320, 320))}, do_compression=True)
    files.append(("mat", folder / "inflates.mat"))
    return files


MUTANTS_PER_READER = 12


def test_every_reader_survives_mutated_and_inflated_files_under_a_memory_cap(tmp_path):
    """Seeded mutants (bit flips, cuts, 32- and 64-bit fields set to edge values) of a valid file of each kind,
    and files inflated past the read budget, read in a child capped at 3 GB of address space: every file is
    read or refused with one line, nothing crashes, and the peak memory stays under the 256 MiB budget."""
    files = []
    for kind, data in sorted(_valid_files(tmp_path).items()):
        for n, (_, mutant) in enumerate(_mutants(data, MUTANTS_PER_READER, seed=46)):
            files.append((kind, tmp_path / f"mutant{n}.{kind}"))
            files[-1][1].write_bytes(mutant)
    inflated = _inflated_files(tmp_path)
    lines, peak = read_capped([f"{kind}={path}" for kind, path in files + inflated],
                              TF3DGAN_MAX_VOXELIZER_WORK=str(10 ** 6))
    for line, (kind, path) in zip(lines, files + inflated):
        assert line == f"read {path}" or (line.startswith("refused ") and str(path) in line), line
    refused = [line for line in lines[len(files):] if line.startswith("refused")]
    assert len(refused) == len(inflated) - 1, lines[len(files):]  # far.off is read: its mesh fits the grid
    assert peak < READ_BUDGET, peak
