"""The presets' registry and model cards, read without TensorFlow: which presets exist, where their folders are,
what their cards say (``tf3dgan presets`` lists them in a second). Loading and saving a preset's networks is
``tf3dgan.presets``, which re-exports these names.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from tf3dgan.errors import UserError

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
REGISTRY_FILE = PRESETS_DIR / "registry.yaml"
CONFIG_FILE = "config.yaml"  # the same name as a run folder's, so tf3dgan.training.run_folder reads it
WEIGHTS_FILE = "weights.npz"
CARD_FILE = "card.md"
PRESET_FILES = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE)
MODEL_PLACEHOLDER = "{model}"  # in a registry score command: --run RUN or --preset DIR/NAME
DATA_PLACEHOLDER = "{data}"  # in a registry entry: the shared data folder (presets build --data)
DEFAULT_DATA = "../shared/data"


class PresetError(UserError):
    """A preset name or folder is unknown, not built, or incomplete."""


# -- the registry ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Recipe:
    """One registry entry: how preset ``name`` is trained and scored."""
    name: str
    summary: str
    config: str  # a shipped config's name or a path
    seed: int
    steps: int
    data: str
    licence: str
    scores: dict  # score name -> command (without the leading `tf3dgan`; {model}: the preset), in card order
    overrides: list = dataclasses.field(default_factory=list)

    def with_data(self, data: str) -> "Recipe":
        """The recipe with ``{data}`` replaced by ``data`` in its overrides and score commands."""
        fill = lambda text: text.replace(DATA_PLACEHOLDER, data)  # noqa: E731
        return dataclasses.replace(self, overrides=[fill(o) for o in self.overrides],
                                   scores={k: fill(v) for k, v in self.scores.items()})


RECIPE_KEYS = {f.name for f in dataclasses.fields(Recipe)} - {"name", "overrides"} | {"set"}


def registry() -> dict[str, Recipe]:
    """The recipes of ``registry.yaml`` by preset name, in file order."""
    from tf3dgan.config import read_yaml

    recipes = {}
    for name, entry in (read_yaml(REGISTRY_FILE) or {}).items():
        where = f"{REGISTRY_FILE}: {name}"
        if not isinstance(entry, dict) or RECIPE_KEYS - {"set"} - set(entry) or set(entry) - RECIPE_KEYS:
            raise PresetError(f"{where}: expected the keys {', '.join(sorted(RECIPE_KEYS))} (set optional)")
        fields = {k: v for k, v in entry.items() if k != "set"}
        recipes[name] = Recipe(name=name, overrides=list(entry.get("set") or []), **fields)
    return recipes


def shipped_folder(name: str) -> Path:
    return PRESETS_DIR / name


def is_preset_folder(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in PRESET_FILES)


def built_names() -> list[str]:
    """The registry's presets whose folder ships in this installation."""
    return [name for name in registry() if is_preset_folder(shipped_folder(name))]


def _known() -> str:
    names = list(registry())
    built = set(built_names())
    waiting = [n for n in names if n not in built]
    return (", ".join(n for n in names if n in built) or "none") + (
        f" (not built yet: {', '.join(waiting)})" if waiting else "")


def resolve_preset(name_or_dir: str | Path) -> Path:
    """The folder ``name_or_dir`` means: a folder holding a preset's files, else the shipped preset of that name.
    PresetError (one line) for an unknown name, a registered preset that is not built, or an incomplete folder."""
    path = Path(name_or_dir)
    if is_preset_folder(path):
        return path
    text = str(name_or_dir)
    if re.fullmatch(r"[A-Za-z0-9_.-]+", text) and text in registry():
        if is_preset_folder(shipped_folder(text)):
            return shipped_folder(text)
        raise PresetError(f"preset {text!r} is registered but not built yet (tf3dgan presets build {text} "
                          f"--out DIR builds it); built presets: {_known()}")
    if path.is_dir():
        missing = [f for f in PRESET_FILES if not (path / f).is_file()]
        raise PresetError(f"{path}: not a preset folder (missing {', '.join(missing)}; `tf3dgan presets save` "
                          f"writes one)")
    raise PresetError(f"unknown preset {text!r} (not a folder; shipped presets: {_known()})")


def read_card(folder: Path) -> tuple[dict, str]:
    """``(front matter, whole text)`` of a preset folder's card."""
    import yaml

    path = Path(folder) / CARD_FILE
    text = path.read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    try:
        front = yaml.safe_load(match.group(1)) if match else {}
    except yaml.YAMLError as err:
        raise PresetError(f"{path}: its front matter is not valid YAML ({err})".splitlines()[0]) from None
    return (front if isinstance(front, dict) else {}), text


def card(front: dict, body: str) -> str:
    """A card's text: the YAML front matter, then the Markdown body."""
    import yaml

    return "---\n" + yaml.safe_dump(front, sort_keys=False, width=110, allow_unicode=True) + "---\n" + body
