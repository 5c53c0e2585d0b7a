"""Subcommands of the ``tf3dgan`` CLI, one module each (see ``tf3dgan.cli.COMMAND_MODULES``), and the
arguments and output steps that several of them share. A command imports from here, never from a sibling."""

from __future__ import annotations

SPEC_HELP = ("a seed (int), a latent file (.npy/.npz/.mat), FILE#i (row i, e.g. of a `tf3dgan sample` .npz) or "
             "FILE#NAME (the row named NAME in a `tf3dgan project` .npz)")


def add_overrides_argument(parser, help_prefix: str = "") -> None:
    """The repeatable ``--set section.key=value``."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help=f"{help_prefix}override one config key (value parsed as YAML); repeatable",
    )


def add_config_arguments(parser) -> None:
    """``--config NAME|PATH`` and ``--set``."""
    parser.add_argument("--config", metavar="NAME|PATH",
                        help="a shipped config's name (`tf3dgan configs` lists them) or a YAML config file "
                             "(defaults: the paper's 64^3 mit_biasfree net)")
    add_overrides_argument(parser)


def add_threshold_argument(parser) -> None:
    from data_io.voxel_geometry import OCCUPANCY_THRESHOLD

    parser.add_argument("--threshold", type=float, default=OCCUPANCY_THRESHOLD,
                        help=f"occupancy threshold and iso-surface level in (0, 1) (default {OCCUPANCY_THRESHOLD}; "
                             f"the authors' viewer used 0.1)")


def check_threshold_argument(args) -> None:
    from data_io.voxel_geometry import check_threshold

    check_threshold(args.threshold, "--threshold")


def add_postprocess_arguments(p) -> None:
    """The post-processing and output options of the commands that write shapes."""
    from data_io.mesh_io import MESH_SCALES
    from tf3dgan.generation.postprocess import CONNECTIVITIES
    from tf3dgan.generation.shape_files import FORMATS

    add_threshold_argument(p)
    p.add_argument("--largest-component", action="store_true",
                   help="keep only the largest connected component of each shape")
    p.add_argument("--connectivity", type=int, choices=tuple(CONNECTIVITIES), default=26,
                   help="voxel neighbourhood for --largest-component (default 26)")
    p.add_argument("--fill-holes", action="store_true", help="fill enclosed cavities")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format (default: from the --out suffix; npz for a folder or .zip)")
    p.add_argument("--mesh-scale", choices=MESH_SCALES, default="unit",
                   help="mesh coordinates: 'unit' (the grid spans [0,1]^3, default) or 'voxel' (voxel units)")
    p.add_argument("--ply-ascii", action="store_true", help="write .ply as ascii (default binary little-endian)")


def add_refine_arguments(p) -> None:
    """The render-and-compare search options of the commands that reconstruct from pictures."""
    from tf3dgan.generation.refinement import DEFAULT_CANDIDATES, DEFAULT_ROUNDS

    p.add_argument("--refine", type=int, default=DEFAULT_ROUNDS, metavar="ROUNDS",
                   help="rounds of render-and-compare search from E's guess for a z whose rendering matches the "
                        f"pictures better (default {DEFAULT_ROUNDS}; 0: E's guess as it is)")
    p.add_argument("--refine-candidates", type=int, default=DEFAULT_CANDIDATES, metavar="K",
                   help=f"latent vectors tried per round and shape (default {DEFAULT_CANDIDATES})")


def check_refine_arguments(args) -> None:
    from tf3dgan.errors import UsageError

    if args.refine < 0:
        raise UsageError(f"--refine must be >= 0 (rounds; 0: off), got {args.refine}")
    if args.refine_candidates < 1:
        raise UsageError(f"--refine-candidates must be >= 1, got {args.refine_candidates}")


def write_outputs(args, probabilities, z):
    """Post-process ``probabilities`` as ``args`` says and write them to ``args.out``; return (voxels, files)."""
    from tf3dgan.generation.postprocess import postprocess
    from tf3dgan.generation.shape_files import write_shapes

    voxels = postprocess(probabilities, args.threshold, args.largest_component, args.connectivity, args.fill_holes)
    files = write_shapes(args.out, voxels, probabilities, z, args.format, args.threshold, args.mesh_scale,
                         ply_binary=not args.ply_ascii, progress=len(voxels) > 1)
    return voxels, files


def add_strip_arguments(p) -> None:
    p.add_argument("--html", default=None, help="HTML strip (default: beside --out, .html)")
    p.add_argument("--no-html", action="store_true", help="do not write the HTML strip")


def write_strip_for(args, voxels, probabilities, titles, title):
    """The HTML strip of post-processed shapes (unless --no-html); returns its path or None."""
    import numpy as np

    from tf3dgan.generation.postprocess import mesh_field
    from tf3dgan.generation.shape_strip import default_html_path, write_strip

    if args.no_html:
        return None
    fields = [mesh_field(p, v, args.threshold) for p, v in zip(probabilities, voxels)]
    level = fields[0][1]
    path = args.html or default_html_path(args.out)
    return write_strip(path, np.stack([f for f, _ in fields]), titles, level, title)


def add_shape_source_arguments(p, split: str = "train") -> None:
    """``--split``, ``--classes``, ``--max-per-class`` and ``--count`` of a ``--data`` source of shapes."""
    from data_io.volumetric import SPLITS

    p.add_argument("--split", default=split, choices=SPLITS, help=f"split of --data (default {split})")
    p.add_argument("--classes", nargs="+", help="keep only these classes of --data")
    p.add_argument("--max-per-class", type=int, help="use at most this many shapes per class (labelled sources)")
    p.add_argument("--count", type=int, default=256, help="shapes to generate when --data is 'synthetic' (default 256)")


def load_shape_source(args, cube_len: int):
    """(uint8 grids at cube_len, labels or None, class names, names) of ``args.data`` (see
    ``add_shape_source_arguments``; 'synthetic' is seeded with ``args.seed``)."""
    import numpy as np

    from data_io.render import read_render_source

    data = read_render_source(args.data, split=args.split, classes=args.classes, cube_len=cube_len,
                              count=args.count, seed=args.seed, progress=True)
    keep = np.arange(len(data.voxels))
    if args.max_per_class and data.labels is not None:
        keep = np.sort(np.concatenate([np.flatnonzero(data.labels == c)[:args.max_per_class]
                                       for c in np.unique(data.labels)]))
    labels = None if data.labels is None else np.asarray(data.labels)[keep]
    return data.voxels[keep], labels, list(data.class_names or []), [list(data.names)[i] for i in keep]


def add_model_arguments(p, run_help: str = "run folder written by `tf3dgan train`", group=None) -> None:
    """``--run DIR`` or ``--preset NAME|DIR``, exactly one (in ``group``, a mutually exclusive group, when given):
    the trained GAN a command uses. ``load_model`` loads it."""
    if group is None:
        group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--run", help=run_help)
    group.add_argument("--preset", metavar="NAME|DIR",
                       help="a trained GAN shipped with tf3dgan (`tf3dgan presets` lists them) or a preset folder")


def load_model(args, checkpoint=None):
    """``(config, gan, step, label)`` of ``--preset`` or ``--run`` (its newest checkpoint, or ``checkpoint``);
    ``label`` names it in messages."""
    from tf3dgan.errors import UsageError

    if getattr(args, "preset", None) is not None:
        if checkpoint is not None:
            raise UsageError("--checkpoint applies to --run, not to --preset")
        from tf3dgan.presets import open_preset

        return (*open_preset(args.preset), model_label(args))
    from tf3dgan.training.checkpoint import load_run

    return (*load_run(args.run, checkpoint), model_label(args))


def model_label(args) -> str:
    """The ``--run`` or ``--preset`` of ``args`` as messages name it."""
    return f"preset {args.preset}" if getattr(args, "preset", None) is not None else str(args.run)


def text_table(rows: list[tuple]) -> list[str]:
    """Indented lines of ``rows`` in aligned columns (the last column as it is)."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + str(r[-1]) for r in rows]


def shown(name) -> str:
    """``name`` (a path or text) printable anywhere: bytes of a file name that are not UTF-8 as ``\\xff``."""
    return str(name).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
