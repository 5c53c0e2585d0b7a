"""A suite's results file: one JSON line per event of each training, appended the moment it happens.

Events (``kind``):
- ``start``: a training began at step 0 (a new attempt; earlier partial scores of that training no longer count);
- ``score``: the training was scored at ``step`` (``scores``: MMD, COV, 1-NNA, components, ...);
- ``final``: the training reached its step count; ``row`` is its report row (scores, last logged losses,
  gate rate, time).

Every line names its training by ``run``, ``seed`` and ``key``, a fingerprint of the settings that decide its
result (the run's config and the suite's evaluation settings), so a line written for other settings is never
mistaken for this suite's. Lines are appended whole (one ``write``); a line cut short by a crash is skipped on
reading. Several processes (shards, Ray tasks) may write one file each, or append to one file:
the reader merges any number of files, so a results file committed to the repository carries a suite across
sessions and machines without run folders.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from tf3dgan.errors import ResultsFileWarning

RESULTS_SUFFIX = ".results.jsonl"
EVENT_KINDS = ("start", "score", "final")


def _non_default_settings(section, defaults) -> dict:
    """The fields of a dataclass ``section`` that differ from ``defaults`` (nested dataclasses flattened)."""
    out = {}
    for f in dataclasses.fields(section):
        value, default = getattr(section, f.name), getattr(defaults, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            nested = _non_default_settings(value, default if dataclasses.is_dataclass(default) else type(value)())
            out.update({f"{f.name}.{k}": v for k, v in nested.items()})
        elif value != default:
            out[f.name] = value
    return out


def training_key(config, evaluate: dict) -> str:
    """A fingerprint of what decides a training's scores: the config's settings that differ from the defaults
    (so a setting added to the package later, at its default, keeps old results valid; ``monitor`` is left
    out: it only watches) and the suite's evaluation settings. ``train.mixed_precision=auto`` counts as the
    precision it runs in here, so trainings of CPUs with and without native bf16 never share a key."""
    from tf3dgan.config import Config

    if config.train.mixed_precision == "auto":
        from tf3dgan.training.precision import resolve

        config = dataclasses.replace(config, train=dataclasses.replace(config.train,
                                                                       mixed_precision=resolve("auto")))
    settings = _non_default_settings(config, Config())
    settings = {k: v for k, v in settings.items() if not k.startswith("monitor.")}
    text = json.dumps({"config": settings, "evaluate": evaluate}, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def append_event(path: str | Path, event: dict) -> None:
    """Append ``event`` (with the current time) to the results file ``path`` as one line, flushed to disk."""
    if event.get("kind") not in EVENT_KINDS:
        raise ValueError(f"unknown results event kind {event.get('kind')!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({**event, "time": round(time.time(), 3)}, sort_keys=True).encode() + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size and _last_byte(path) != b"\n":
            line = b"\n" + line  # a line cut short by a crash stays a line of its own (skipped on reading)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def valid_event(event) -> bool:
    """Whether a decoded line is an event this module wrote: its kind, key, run, seed, step and time of the right
    types, a ``scores`` mapping (score) or a ``row`` mapping with its step count (final)."""
    if not isinstance(event, dict) or event.get("kind") not in EVENT_KINDS:
        return False
    step = event.get("step")
    if (not isinstance(event.get("key"), str) or not isinstance(event.get("run"), str)
            or not (event.get("seed") is None or (isinstance(event["seed"], int) and not isinstance(event["seed"], bool)))
            or not (isinstance(step, int) and not isinstance(step, bool) and step >= 0)
            or not _is_number(event.get("time", 0.0))):
        return False
    if event["kind"] == "score":
        return isinstance(event.get("scores"), dict)
    if event["kind"] == "final":
        row = event.get("row")
        return isinstance(row, dict) and isinstance(row.get("steps"), int) and not isinstance(row["steps"], bool)
    return True


def read_events(paths) -> list[dict]:
    """Every complete, valid event line of the files ``paths`` (missing files are skipped), oldest first. Lines
    that are not valid events (cut short by a crash, or malformed) are skipped, with one ResultsFileWarning per
    file that counts them."""
    events = []
    for path in paths:
        try:
            lines = Path(path).read_bytes().splitlines()
        except FileNotFoundError:
            continue
        skipped = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                event = None  # a write cut short
            if valid_event(event):
                events.append(event)
            else:
                skipped.append(number)
        if skipped:
            shown = ", ".join(map(str, skipped[:5])) + (", ..." if len(skipped) > 5 else "")
            warnings.warn(ResultsFileWarning(f"{path}: skipped {len(skipped)} line(s) that are not complete results "
                                             f"events (line {shown})"), stacklevel=2)
    events.sort(key=lambda e: e.get("time", 0.0))
    return events


@dataclass
class TrainingResults:
    """What the results files hold for one training (its latest attempt)."""

    scores: dict = field(default_factory=dict)  # step -> scores
    final: dict | None = None  # the report row, once the training has finished

    @property
    def scored_steps(self) -> set:
        return set(self.scores)


def results_by_key(events: list[dict]) -> dict[str, TrainingResults]:
    """Group events by training key; a ``start`` drops the earlier scores of its training (a new attempt).

    A finished training keeps its final row even when a later attempt of the same settings started (two
    machines that ran the same training): the first final row wins, so a report never changes under it.
    """
    out: dict[str, TrainingResults] = {}
    for event in events:
        results = out.setdefault(event["key"], TrainingResults())
        if results.final is not None:
            continue
        if event["kind"] == "start":
            results.scores = {}
        elif event["kind"] == "score":
            results.scores[int(event["step"])] = event["scores"]
        else:
            results.final = event["row"]
            results.scores.setdefault(int(event["row"]["steps"]), {k: event["row"].get(k) for k in event["row"]})
    return out


def results_files(primary: str | Path) -> list[Path]:
    """``primary`` and every shard file beside it (``NAME.results-shard-I-of-N.jsonl`` for ``NAME.results.jsonl``)."""
    primary = Path(primary)
    stem = primary.name[: -len(RESULTS_SUFFIX)] if primary.name.endswith(RESULTS_SUFFIX) else primary.stem
    shards = sorted(primary.parent.glob(f"{stem}.results-shard-*.jsonl")) if primary.parent.is_dir() else []
    return [primary, *shards]


def shard_file(primary: str | Path, index: int, count: int) -> Path:
    """The results file that shard ``index`` of ``count`` writes, beside ``primary``."""
    primary = Path(primary)
    stem = primary.name[: -len(RESULTS_SUFFIX)] if primary.name.endswith(RESULTS_SUFFIX) else primary.stem
    return primary.with_name(f"{stem}.results-shard-{index}-of-{count}.jsonl")


def in_shard(run: str, seed, index: int, count: int) -> bool:
    """Whether the training (``run``, ``seed``) belongs to shard ``index`` (1-based) of ``count``: a hash of its
    name and seed, so the shares stay the same whatever the order of runs in the suite file."""
    digest = hashlib.sha256(f"{run}/{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count == index - 1
