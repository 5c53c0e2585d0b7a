"""TensorBoard event files of a run, read back with TensorBoard's own reader: the scalars equal metrics.jsonl
(names, steps, float32 values), the histograms and meshes are there, and a resume appends without duplicates."""

from __future__ import annotations

import numpy as np

from tf3dgan.config import load_config
from tf3dgan.training.run_callbacks import read_metrics
from tf3dgan.training.loop import train

TB = ["monitor.tensorboard=true", "monitor.tensorboard_every=4", "monitor.html=false"]


def read_board(log_dir) -> dict:
    """``{tag: [(step, value), ...]}`` as TensorBoard's event accumulator reads the folder (values: numpy)."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    acc = event_accumulator.EventAccumulator(str(log_dir), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    return {tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
            for tag in acc.Tags()["tensors"]}


def scalars_of(board: dict) -> dict:
    return {tag: [(step, float(v)) for step, v in events] for tag, events in board.items() if np.ndim(events[0][1]) == 0}


def assert_board_matches_metrics(run_dir):
    board = read_board(run_dir / "tensorboard")
    records = read_metrics(run_dir)
    scalars = scalars_of(board)
    assert set(scalars) == set(records[0]) - {"step"}
    for name, events in scalars.items():
        steps = [s for s, _ in events]
        assert steps == sorted(set(steps)), f"{name}: steps {steps} not each once"
        assert steps == [r["step"] for r in records], name
        for (step, value), record in zip(events, records):
            assert np.float32(value) == np.float32(record[name]), (name, step)
    return board


def test_event_files_equal_metrics_jsonl_and_hold_histograms_and_meshes(tmp_path, tiny_overrides, tiny_voxels):
    config = load_config(None, tiny_overrides + TB)
    train(config, tmp_path / "run", steps=8, voxels=tiny_voxels, progress=False)
    board = assert_board_matches_metrics(tmp_path / "run")
    for name in ("d_logits/real", "d_logits/generated"):
        assert [s for s, _ in board[name]] == [4, 8]
        assert board[name][0][1].shape[1] == 3  # (buckets, [left, right, count])
        assert board[name][0][1][:, 2].sum() == 4  # one logit per shape of the batch
    assert [s for s, _ in board["samples/0_VERTEX"]] == [4, 8]
    assert [s for s, _ in board["samples/rendered"]] == [4, 8]
    vertices, faces = board["samples/0_VERTEX"][0][1], board["samples/0_FACE"][0][1]
    assert vertices.ndim == 3 and vertices.shape[-1] == 3 and faces.max() < vertices.shape[1]


def test_resume_appends_without_duplicate_steps(tmp_path, tiny_overrides, tiny_voxels):
    import shutil

    from tf3dgan.training.run_folder import list_checkpoints

    config = load_config(None, tiny_overrides + TB + ["train.checkpoint_every=2"])
    run = tmp_path / "run"
    train(config, run, steps=5, voxels=tiny_voxels, progress=False)  # checkpoints at 2, 4, 5; logs at 2, 4
    # A process that died after step 5's events but before its checkpoint at 4: resume from step 2.
    for path in list_checkpoints(run)[-2:]:
        path.unlink()
    train(config, run, steps=8, voxels=tiny_voxels, progress=False)
    assert_board_matches_metrics(run)
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 2  # the trimmed file and the new one

    # The same run uninterrupted writes the same scalars.
    whole = tmp_path / "whole"
    train(config, whole, steps=8, voxels=tiny_voxels, progress=False)
    resumed, uninterrupted = scalars_of(read_board(run / "tensorboard")), scalars_of(read_board(whole / "tensorboard"))
    assert set(resumed) == set(uninterrupted)
    for name in resumed:
        np.testing.assert_allclose(resumed[name], uninterrupted[name], rtol=1e-5, err_msg=name)
    shutil.rmtree(whole)
