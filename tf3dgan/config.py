"""Typed, validated run configuration, loaded from YAML with ``section.key=value`` overrides.

A config has five sections (``model``, ``latent``, ``train``, ``data``, ``monitor``) plus a free-form
``variant`` section whose keys the chosen variant declares and checks (``variants.options``). Every error names
the file, the key and what was expected, and is raised before any training starts. Loading and validating a
config imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from data_io.resample import UPSAMPLE_MODES
from data_io.visdom_client import DEFAULT_HOST as VISDOM_HOST, DEFAULT_PORT as VISDOM_PORT
from data_io.volumetric import ROTATIONS, SPLITS
from data_io.voxel_geometry import is_power_of_two
from tf3dgan.errors import ConfigError
from variants.options import OPTIONS


@dataclass
class ModelConfig:
    variant: str = "mit_biasfree"
    cube_len: int = 64
    z_dim: int = 200
    base_width: int = 64
    use_bias: Optional[bool] = None  # None: the variant decides (mit_biasfree: False, mit: True)
    leak: float = 0.2
    minibatch_std: bool = False  # D's head sees the batch's feature spread as one more channel (Karras et al. 2018)
    d_base_width: Optional[int] = None  # D's first width when it differs from G's (None: base_width)


@dataclass
class LatentConfig:
    distribution: Literal["normal", "uniform"] = "normal"  # tf3dgan.nn.latent.DISTRIBUTIONS
    std: float = 0.33  # for "normal": N(0, std); "uniform" draws U(0, 1) as the paper's release


@dataclass
class TrainConfig:
    steps: int = 10000
    batch_size: int = 32
    g_lr: float = 0.0025
    d_lr: float = 1e-5
    beta1: float = 0.5
    beta2: float = 0.999
    d_thresh: float = 0.8
    d_gate: Literal["le", "lt", "always"] = "le"  # update D when accuracy <= thresh ("lt": tf-3dgan's <)
    g_loss: Literal["non_saturating", "saturating"] = "non_saturating"  # tf3dgan.nn.losses.GENERATOR_LOSSES
    label_smoothing: float = 0.0  # real targets become 1 - s
    fake_label_smoothing: float = 0.0  # fake targets become s (two-sided smoothing)
    # Training tricks, off by default; see tf3dgan/training/stabilizers.py for what each does and its source.
    ema_decay: float = 0.0  # average G's weights for sampling (e.g. 0.999; 0: off)
    instance_noise: float = 0.0  # std of the noise on D's inputs at step 0, annealed to 0 (0: off)
    r1_gamma: float = 0.0  # weight of the R1 gradient penalty on real shapes (0: off)
    r1_every: int = 1  # lazy R1: the penalty on every k-th step only, its weight times k (StyleGAN2; 1: every step)
    soft_labels: bool = False  # random soft targets: real U(0.7, 1.2) and generated U(0, 0.3), clipped to [0, 1]
    flip_labels: float = 0.0  # fraction of each batch whose real and generated targets trade places (0: off)
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"  # decay both rates to 0 at the last step
    lr_decay_start: float = 0.5  # fraction of train.steps after which the schedule starts to decay
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 200
    sample_every: int = 500
    num_samples: int = 8  # shapes in each sample snapshot (from a fixed set of latent vectors)
    # "auto": mixed_bfloat16 where the CPU has native bf16 dot products (AVX512_BF16, AMX), float32 elsewhere
    mixed_precision: Literal["none", "auto", "mixed_bfloat16", "mixed_float16"] = "none"
    jit_compile: Literal["auto", "true", "false"] = "auto"
    distribute: Literal["none", "mirrored", "multi_worker"] = "none"


@dataclass
class DataConfig:
    source: str = "synthetic"  # "synthetic" or a path to a file or folder data_io can read
    classes: Optional[list] = None  # class names to keep (None: all)
    split: Literal[SPLITS] = "train"
    rotations: Literal[ROTATIONS] = "all"  # 3D ShapeNets .mat: all 12 rotations or only `_1`
    fraction: float = 1.0  # keep this fraction of the shapes (tf-3dgan's obj_ratio)
    array_key: Optional[str] = None  # the array's name in an .npz or .mat file (None: data_io's default lookup)
    synthetic_count: int = 512
    upsample: Literal[UPSAMPLE_MODES] = "nearest"  # stored grids smaller than cube_len
    mirror_axis: Optional[int] = None  # also train on every shape flipped along this grid axis (0-2; None: off)
    seed: int = 0


@dataclass
class MonitorConfig:
    visdom: bool = False
    visdom_host: str = VISDOM_HOST
    visdom_port: int = VISDOM_PORT
    visdom_env: str = "tf3dgan"
    plot_every: int = 50  # steps between posts of the scalar plots
    html_every: int = 0  # steps between offline HTML sample pages (0: only at sample snapshots)
    html: bool = True  # write the offline pages samples/step_<step>.html and loss_curves.html
    tensorboard: bool = False  # write TensorBoard event files to RUN/tensorboard/
    tensorboard_every: int = 100  # steps between histograms of D's logits in TensorBoard (0: none)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    latent: LatentConfig = field(default_factory=LatentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    variant: Any = None  # the options of model.variant: an instance of its ``Options`` dataclass

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# A 256^3 grid is 16.8 M voxels per sample (the paper's net at 256^3 needs tens of GB per batch); 512^3 and
# above cannot be trained on any current single device. Seeds are those numpy and Keras accept.
MAX_CUBE_LEN = 256
MAX_SEED = 2**32 - 1

# The typed sections; ``variant`` is typed by the chosen variant's ``Options``.
SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(Config) if f.name != "variant"}  # type: ignore[misc]
SECTION_NAMES = (*SECTIONS, "variant")


def _check_value(where: str, key: str, value: Any, annotation: Any) -> Any:
    """Return ``value`` coerced to ``annotation`` or raise a ConfigError naming ``where`` and ``key``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check_value(where, key, value, inner)
    if origin is Literal:
        if isinstance(value, bool) and "true" in args:  # YAML reads true/false/on/off as booleans
            value = "true" if value else "false"
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{where}: {key} must be one of {choices}, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {key} must be an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {key} must be a finite number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be a string, got {value!r}")
        return value
    if annotation is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {key} must be a list, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r} for {key}")


def choices(section_class, key: str) -> tuple:
    """The values a ``Literal`` key of a section dataclass allows: the one statement of each choice list."""
    annotation = typing.get_type_hints(section_class)[key]
    if typing.get_origin(annotation) is typing.Union:  # Optional[Literal[...]]
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is not Literal:
        raise TypeError(f"{section_class.__name__}.{key} is not a Literal")
    return typing.get_args(annotation)


def build_section(where: str, name: str, raw: Any, section_class=None):
    """The section ``name`` (``train``, ``latent``, ...; or any dataclass ``section_class`` of typed fields with
    defaults) built from the mapping ``raw``, every value checked like a config file's (unknown keys, types,
    choices); ConfigError naming ``where`` otherwise."""
    return _build_section(where, name, raw, cls=section_class)


def _build_section(where: str, name: str, raw: Any, cls=None, owner: str = ""):
    """The dataclass ``cls`` (default: the section's) built from the mapping ``raw``, every value checked."""
    cls = cls or SECTIONS[name]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: section '{name}' must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"{where}: unknown key '{name}.{key}'{owner} (known keys: {', '.join(sorted(known)) or 'none'})"
            )
    values = {k: _check_value(where, f"{name}.{k}", v, hints[k]) for k, v in raw.items()}
    return cls(**values)


def _require(condition: bool, where: str, key: str, expected: str, value: Any) -> None:
    if not condition:
        raise ConfigError(f"{where}: {key} must be {expected}, got {value!r}")


def validate(config: Config, where: str = "config") -> Config:
    """Check value ranges and cross-key constraints (ConfigError naming ``where`` and the key) and build the
    variant's options: returns ``config`` with ``config.variant`` an instance of its variant's ``Options``."""
    m, t, lat, d, mon = config.model, config.train, config.latent, config.data, config.monitor
    _require(
        is_power_of_two(m.cube_len, 8) and m.cube_len <= MAX_CUBE_LEN,
        where, "model.cube_len", f"a power of two from 8 to {MAX_CUBE_LEN} (e.g. 32 or 64)", m.cube_len,
    )
    _require(m.z_dim >= 1, where, "model.z_dim", ">= 1", m.z_dim)
    _require(m.base_width >= 1, where, "model.base_width", ">= 1", m.base_width)
    _require(m.d_base_width is None or m.d_base_width >= 1, where, "model.d_base_width", ">= 1 or null",
             m.d_base_width)
    _require(d.mirror_axis in (None, 0, 1, 2), where, "data.mirror_axis", "0, 1, 2 or null", d.mirror_axis)
    _require(0.0 <= m.leak < 1.0, where, "model.leak", "in [0, 1)", m.leak)
    _require(lat.std > 0, where, "latent.std", "> 0", lat.std)
    _require(t.steps >= 0, where, "train.steps", ">= 0", t.steps)
    _require(0 <= t.seed <= MAX_SEED, where, "train.seed", f"in 0..{MAX_SEED}", t.seed)
    _require(0 <= d.seed <= MAX_SEED, where, "data.seed", f"in 0..{MAX_SEED}", d.seed)
    _require(t.batch_size >= 1, where, "train.batch_size", ">= 1", t.batch_size)
    for key in ("g_lr", "d_lr"):
        _require(getattr(t, key) > 0, where, f"train.{key}", "> 0", getattr(t, key))
    for key in ("beta1", "beta2"):
        _require(0 <= getattr(t, key) < 1, where, f"train.{key}", "in [0, 1)", getattr(t, key))
    _require(0 <= t.d_thresh <= 1, where, "train.d_thresh", "in [0, 1]", t.d_thresh)
    for key in ("label_smoothing", "fake_label_smoothing"):
        _require(0 <= getattr(t, key) < 0.5, where, f"train.{key}", "in [0, 0.5)", getattr(t, key))
    _require(0 <= t.ema_decay < 1, where, "train.ema_decay", "in [0, 1) (0: off)", t.ema_decay)
    _require(0 <= t.flip_labels < 0.5, where, "train.flip_labels", "in [0, 0.5) (0: off)", t.flip_labels)
    for key in ("instance_noise", "r1_gamma"):
        _require(getattr(t, key) >= 0, where, f"train.{key}", ">= 0 (0: off)", getattr(t, key))
    _require(t.r1_every >= 1, where, "train.r1_every", "an integer >= 1 (1: R1 at every step)", t.r1_every)
    _require(0 <= t.lr_decay_start < 1, where, "train.lr_decay_start", "in [0, 1)", t.lr_decay_start)
    _require(
        not (t.soft_labels and (t.label_smoothing or t.fake_label_smoothing)), where, "train.soft_labels",
        "false when train.label_smoothing or train.fake_label_smoothing is set (both set D's targets)", t.soft_labels,
    )
    for key in ("log_every", "checkpoint_every"):
        _require(getattr(t, key) >= 1, where, f"train.{key}", ">= 1", getattr(t, key))
    _require(t.sample_every >= 0, where, "train.sample_every", ">= 0 (0: off)", t.sample_every)
    _require(t.num_samples >= 1, where, "train.num_samples", ">= 1", t.num_samples)
    _require(0 < d.fraction <= 1, where, "data.fraction", "in (0, 1]", d.fraction)
    _require(d.synthetic_count >= 1, where, "data.synthetic_count", ">= 1", d.synthetic_count)
    _require(1 <= mon.visdom_port <= 65535, where, "monitor.visdom_port", "a port number", mon.visdom_port)
    _require(mon.plot_every >= 1, where, "monitor.plot_every", ">= 1", mon.plot_every)
    _require(mon.html_every >= 0, where, "monitor.html_every", ">= 0", mon.html_every)
    _require(mon.tensorboard_every >= 0, where, "monitor.tensorboard_every", ">= 0 (0: no histograms)",
             mon.tensorboard_every)
    _require(
        not (mon.html_every and t.sample_every) or mon.html_every % t.sample_every == 0,
        where, "monitor.html_every", f"0 or a multiple of train.sample_every ({t.sample_every})", mon.html_every,
    )

    config.variant = variant_options(m.variant, config.variant, where)
    config.variant.check_config(config, where)
    return config


def variant_options(name: str, raw: Any, where: str = "config"):
    """The options of the variant registered as ``name`` (an instance of its ``Options`` dataclass, range-checked);
    ``raw`` is a mapping (the config's ``variant`` section) or already an ``Options`` instance. Checked like the
    other sections."""
    if name not in OPTIONS:
        raise ConfigError(f"{where}: model.variant '{name}' is not a known variant (known: {', '.join(OPTIONS)})")
    options_class = OPTIONS[name]
    options = raw if isinstance(raw, options_class) else _build_section(
        where, "variant", raw, options_class, f" for variant '{name}'"
    )
    options.check(where)
    return options


def from_dict(raw: Any, where: str = "config") -> Config:
    """Build and validate a Config from a plain mapping (as read from YAML)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of sections, got {type(raw).__name__}")
    for name in raw:
        if name not in SECTION_NAMES:
            raise ConfigError(
                f"{where}: unknown section '{name}' (known sections: {', '.join(SECTION_NAMES)})"
            )
    sections = {name: _build_section(where, name, raw.get(name)) for name in SECTIONS}
    return validate(Config(**sections, variant=raw.get("variant")), where)


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` strings (values parsed as YAML) to a raw config mapping."""
    raw = {k: dict(v or {}) if isinstance(v, dict) or v is None else v for k, v in (raw or {}).items()}
    for item in overrides or []:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. train.steps=100")
        dotted, text = item.split("=", 1)
        section, key = dotted.split(".", 1)
        if section not in SECTION_NAMES:
            raise ConfigError(
                f"--set {item!r}: unknown section '{section}' (known sections: {', '.join(SECTION_NAMES)})"
            )
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item!r}, in the value: {_yaml_problem(err)}") from None
        target = raw.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"--set {item!r}: section '{section}' is not a mapping")
        target[key] = value
    return raw


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping (YAML would silently keep the last)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise ConfigError(
                    f"key '{key}' is given twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1})"
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML syntax error as one line: where (line, column) and what."""
    mark = getattr(err, "problem_mark", None)
    what = " ".join(filter(None, (getattr(err, "problem", None), getattr(err, "context", None)))) or str(err)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}not valid YAML ({' '.join(what.split())})"


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, with errors naming the file; refuses an empty file and duplicate keys."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a config file")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}); save the config as UTF-8") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: {_yaml_problem(err)}") from None
    if raw is None:
        raise ConfigError(f"{path}: the config file is empty (no sections); give at least one setting, or "
                          "leave out --config for the defaults (the paper's 64^3 net)")
    return raw


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load ``path`` (or the defaults when None), apply ``--set`` overrides, validate. ``path`` is a YAML file or
    the name of a shipped config (``tf3dgan configs``); an existing file wins."""
    if path is not None:
        from tf3dgan.config_library import resolve_config_path

        path = resolve_config_path(path, "config")
    raw = read_yaml(path) if path is not None else {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    where = str(path) if path is not None else "config"
    if overrides:
        where += " (with --set " + " ".join(overrides) + ")"
    return from_dict(apply_overrides(raw, overrides or []), where)


def save_config(config: Config, path: str | Path) -> None:
    """Write ``config`` as YAML, atomically (a crash leaves the old file or the new one)."""
    from data_io.atomic import atomic_write_bytes

    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))
