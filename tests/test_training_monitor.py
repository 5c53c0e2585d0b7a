"""Monitoring: a real offline visdom server, live plots read back over its API, HTML pages, plot/view CLI."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from html.parser import HTMLParser
from pathlib import Path

import keras
import numpy as np
import pytest

from data_io.plotting import figure_json, mesh_trace
from harness import tiny_config, wait_for
from tf3dgan.training.run_callbacks import read_metrics
from tf3dgan.cli import main
from tf3dgan.errors import ConfigError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VisdomServer:
    """``python -m tf3dgan.visdom.server`` in a subprocess on 127.0.0.1 (no network needed)."""

    def __init__(self, tmp_path: Path, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp_path = tmp_path
        self.proc = None

    def start(self) -> "VisdomServer":
        static = self.tmp_path / f"static_{time.monotonic_ns()}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tf3dgan.visdom.server", "--port", str(self.port),
             "--env-path", str(self.tmp_path / "envs"), "--static-dir", str(static)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120  # generous: a loaded 2-core machine takes tens of seconds to import it
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"visdom server exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("visdom server did not start in 120 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def windows(self, env: str) -> dict:
        import visdom

        vis = visdom.Visdom(server="http://127.0.0.1", port=self.port, env=env, raise_exceptions=True,
                            use_incoming_socket=False)
        return json.loads(vis.get_window_data(env=env))


@pytest.fixture
def server(tmp_path):
    srv = VisdomServer(tmp_path).start()
    yield srv
    srv.kill()


def traces(window: dict) -> list[dict]:
    return window["content"]["data"]


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.divs = []

    def handle_starttag(self, tag, attrs):
        if tag == "div":
            self.divs.append(dict(attrs))


def parse_page(path: Path) -> list[dict]:
    """Parse a written page with html.parser, check it has a plotly div, return its figures."""
    html = path.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(html)
    parser.close()
    assert any("plotly-graph-div" in (d.get("class") or "") for d in parser.divs), path
    assert "cdn.plot.ly" not in html.split("<script")[1][:300]  # plotly.js is inline, not fetched
    return figure_json(html)


# -- offline server start -----------------------------------------------------------------------------------


def test_static_folder_holds_every_asset_the_page_loads(tmp_path):
    from tf3dgan.visdom.server import build_static

    static = build_static(tmp_path / "static")
    index = (static / "index.html").read_text()
    wanted = re.findall(r"static_url\(['\"]([^'\"]+)['\"]\)", index)
    assert "js/plotly-plotly.min.js" in wanted and "js/main.js" in wanted and len(wanted) >= 12
    missing = [name for name in wanted if not (static / name).is_file()]
    assert missing == []
    assert "../user" not in index and "mathjax/" not in index  # the two template fixes
    for font in ("woff2", "woff", "ttf"):  # referenced by bootstrap.min.css as ../fonts/...
        assert (static / "fonts" / f"glyphicons-halflings-regular.{font}").stat().st_size > 1000


# -- live plots ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_live_plots_read_back_from_server(server, tmp_path, tiny_voxels):
    from tf3dgan.training.loop import train

    config = tiny_config(
        "train.steps=8", "monitor.visdom=true", f"monitor.visdom_port={server.port}",
        "monitor.visdom_env=live", "monitor.plot_every=3",
    )
    run_dir = tmp_path / "run"
    gan = train(config, run_dir, voxels=tiny_voxels, progress=False)
    assert int(gan.step_counter.numpy()) == 8

    records = read_metrics(run_dir)
    assert [r["step"] for r in records] == [2, 3, 4, 6, 8]  # log_every = 2, and each checkpoint (3, 6, 8)
    windows = server.windows("live")
    assert {"losses", "discriminator", "d_updated", "learning_rates", "samples"} <= set(windows)
    for window, names in [("losses", ["d_loss", "g_loss"]), ("discriminator", ["d_real", "d_fake", "d_acc"]),
                          ("d_updated", ["d_updated"]), ("learning_rates", ["g_lr", "d_lr"])]:
        by_name = {t["name"]: t for t in traces(windows[window])}
        assert sorted(by_name) == sorted(names)
        for name in names:
            assert by_name[name]["x"] == [2, 3, 4, 6, 8]  # the steps of metrics.jsonl
            np.testing.assert_allclose(by_name[name]["y"], [r[name] for r in records], rtol=1e-6)
    assert traces(windows["learning_rates"])[0]["y"] == pytest.approx([config.train.g_lr] * 5, rel=1e-6)  # float32

    # The panel shows the last snapshot (step 8): one mesh per shape, the same meshes as its HTML page.
    panel = traces(windows["samples"])
    page = parse_page(run_dir / "samples" / "step_00000008.html")[0]["data"]
    assert [t["type"] for t in panel] == ["mesh3d"] * len(page) and len(panel) >= 1
    assert [len(t["x"]) for t in panel] == [len(t["x"]) for t in page]
    assert all(len(t["i"]) > 0 and max(t["i"] + t["j"] + t["k"]) < len(t["x"]) for t in panel)


@pytest.mark.slow
def test_server_killed_mid_run_training_finishes_with_a_warning(server, tmp_path, tiny_voxels):
    from data_io.visdom_client import VisdomUnavailableWarning
    from tf3dgan.training.loop import train

    def server_holds_step_4():
        try:
            return 4 in traces(server.windows("killed")["losses"])[0]["x"]
        except Exception:  # noqa: BLE001 - no such env or window yet
            return False

    class KillServer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.step_counter.numpy()) == 4:  # the live plot posted steps 2-4 (plot_every=2)
                wait_for(server_holds_step_4, server.proc, "the server to hold the points of step 4", timeout=60)
                server.kill()

    config = tiny_config(
        "train.steps=10", "monitor.visdom=true", f"monitor.visdom_port={server.port}",
        "monitor.visdom_env=killed", "monitor.plot_every=2",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gan = train(config, tmp_path / "run", voxels=tiny_voxels, extra_callbacks=[KillServer()], progress=False)
    assert int(gan.step_counter.numpy()) == 10
    unavailable = [w for w in caught if issubclass(w.category, VisdomUnavailableWarning)]
    assert len(unavailable) == 1  # warned once, not at every post
    assert "training goes on" in str(unavailable[0].message)
    assert [r["step"] for r in read_metrics(tmp_path / "run")] == [2, 3, 4, 6, 8, 9, 10]  # files kept logging
    assert (tmp_path / "run" / "samples" / "step_00000008.html").is_file()


@pytest.mark.slow
def test_client_reconnects_and_resends_history(tmp_path):
    from data_io.visdom_client import VisdomClient, VisdomUnavailableWarning

    srv = VisdomServer(tmp_path)  # not started yet: the server is down
    client = VisdomClient("127.0.0.1", srv.port, "back", retry_after=0.2, timeout=2)
    with pytest.warns(VisdomUnavailableWarning):
        client.line("losses", 1, {"d_loss": 1.0})
        assert client.flush(10)
    client.line("losses", 2, {"d_loss": 0.5})  # within retry_after: skipped quietly
    assert client.flush(10) and client.posts == 0 and client.warned
    client.retry_after = 0  # the next post tries the server again, whenever it comes
    srv.start()
    try:
        client.line("losses", 3, {"d_loss": 0.25})
        assert client.flush(10) and client.connected
        (trace,) = traces(srv.windows("back")["losses"])
        assert trace["x"] == [1, 2, 3] and trace["y"] == [1.0, 0.5, 0.25]  # the whole history
        client.line("losses", 4, {"d_loss": 0.125})
        assert client.flush(10)
        assert traces(srv.windows("back")["losses"])[0]["x"] == [1, 2, 3, 4]  # appended
    finally:
        srv.kill()


# -- offline pages -------------------------------------------------------------------------------------------


def test_panel_meshes_exact_on_a_known_grid(tmp_path):
    from data_io.meshes import voxels_to_mesh
    from tf3dgan.training.html_monitor import write_sample_page

    grids = np.zeros((3, 16, 16, 16), np.float32)
    grids[0, 4:12, 4:12, 4:12] = 1.0  # an 8^3 cube
    grids[2, 2:5, 2:14, 6:9] = 0.9
    path = write_sample_page(tmp_path, 40, grids)
    assert path == tmp_path / "samples" / "step_00000040.html"
    (figure,) = parse_page(path)
    meshes = figure["data"]
    assert [t["type"] for t in meshes] == ["mesh3d", "mesh3d"]  # grid 1 is empty: no trace
    for trace, grid in zip(meshes, grids[[0, 2]]):
        mesh = voxels_to_mesh(grid)
        assert len(trace["x"]) == len(mesh.vertices) and len(trace["i"]) == len(mesh.faces)
    assert min(meshes[0]["x"]) == 3.5 and max(meshes[0]["x"]) == 11.5  # the cube's faces, voxel units
    assert [t["scene"] for t in meshes] == ["scene", "scene3"]
    assert "#1 (empty)" in [a["text"] for a in figure["layout"]["annotations"]]


def test_large_meshes_are_decimated_in_the_same_frame():
    grid = np.zeros((64, 64, 64), np.float32)
    z, y, x = np.mgrid[:64, :64, :64]
    grid[(x - 31.5) ** 2 + (y - 31.5) ** 2 + (z - 31.5) ** 2 < 28**2] = 1.0
    full = mesh_trace(grid, max_faces=10**9)
    small = mesh_trace(grid, max_faces=5000)
    assert len(small["i"]) <= 5000 < len(full["i"])
    for axis in "xyz":  # the coarse mesh stays where the shape is (within a coarse voxel)
        assert abs(min(small[axis]) - min(full[axis])) <= 2 and abs(max(small[axis]) - max(full[axis])) <= 2
    assert mesh_trace(np.zeros((8, 8, 8))) is None


def test_training_writes_pages_and_plot_regenerates_them(tmp_path, tiny_voxels, capsys):
    from tf3dgan.training.loop import train

    run_dir = tmp_path / "run"
    train(tiny_config("train.steps=5"), run_dir, voxels=tiny_voxels, progress=False)
    samples = run_dir / "samples"
    assert sorted(p.name for p in samples.glob("*.html")) == ["step_00000004.html", "step_00000005.html"]
    loss_page = run_dir / "loss_curves.html"
    (figure,) = parse_page(loss_page)
    by_name = {t["name"]: t for t in figure["data"]}
    assert {"d_loss", "g_loss", "d_real", "d_fake", "d_acc", "d_updated", "g_lr", "d_lr"} <= set(by_name)
    assert list(by_name["d_loss"]["x"]) == [2, 3, 4, 5]  # log_every 2, checkpoint 3, the step that ends the run

    for page in [loss_page, *samples.glob("*.html")]:
        page.unlink()
    assert main(["plot", "--run", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "loss_curves.html: training curves" in out and "step_00000005.html: sample panel" in out
    assert loss_page.is_file() and len(list(samples.glob("*.html"))) == 2
    assert len(parse_page(samples / "step_00000004.html")[0]["layout"]["annotations"]) == 2  # num_samples
    assert main(["plot", "--run", str(tmp_path / "nothing")]) == 2


def test_html_every_selects_snapshots_and_is_validated(tmp_path, tiny_voxels):
    from tf3dgan.training.loop import train

    run_dir = tmp_path / "run"
    train(tiny_config("train.steps=8", "monitor.html_every=8"), run_dir, voxels=tiny_voxels,
          progress=False)
    assert [p.name for p in (run_dir / "samples").glob("*.html")] == ["step_00000008.html"]
    with pytest.raises(ConfigError, match="monitor.html_every must be 0 or a multiple of train.sample_every"):
        tiny_config("monitor.html_every=6")  # sample_every = 4


def test_view_sample_file_and_binvox(tmp_path, capsys):
    import data_io

    probabilities = np.zeros((5, 16, 16, 16), np.float32)
    for i in range(5):
        probabilities[i, 2 : 6 + 2 * i, 3:9, 3:9] = 0.8
    sample = tmp_path / "samples.npz"
    np.savez_compressed(sample, voxels=(probabilities > 0.5).astype("uint8"), probabilities=probabilities,
                        z=np.zeros((5, 8), np.float32))
    out = tmp_path / "samples.html"
    assert main(["view", str(sample), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"{out}: 5 of 5 shapes of 16^3 from {sample}"
    assert len(parse_page(out)[0]["data"]) == 5

    assert main(["view", str(sample), "--index", "4", "1", "--threshold", "0.9"]) == 0  # default --out
    assert capsys.readouterr().out.strip().endswith("2 of 5 shapes of 16^3 from " + f"{sample}; 2 empty at this threshold")
    assert parse_page(tmp_path / "samples.html")[0]["data"] == []

    grid = np.zeros((32, 32, 32), np.uint8)
    grid[8:24, 10:20, 4:28] = 1
    data_io.write_binvox(tmp_path / "box.binvox", grid)
    assert main(["view", str(tmp_path / "box.binvox")]) == 0
    (trace,) = parse_page(tmp_path / "box.html")[0]["data"]
    assert (min(trace["x"]), max(trace["x"])) == (7.5, 23.5)
    assert main(["view", str(sample), "--index", "7"]) == 2
    assert "--index 7" in capsys.readouterr().err
