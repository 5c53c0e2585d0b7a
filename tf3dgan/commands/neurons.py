"""``tf3dgan neurons``: the shapes that most excite single units of D, with each unit's receptive field
highlighted (a PNG sheet and an HTML page, units as rows), and how class-selective the units are."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tf3dgan.commands import add_model_arguments, add_shape_source_arguments, load_model, load_shape_source, model_label
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    from data_io.render import AZIMUTH, ELEVATION
    from tf3dgan.evaluation.neurons import NEURON_BN_STATISTICS

    p = subparsers.add_parser("neurons", help="top shapes of single D units, receptive fields highlighted; selectivity")
    add_model_arguments(p, "run folder: D from its newest checkpoint")
    p.add_argument("--data", required=True, help="the shapes: any data source data_io reads, or 'synthetic'")
    add_shape_source_arguments(p, split="train")
    p.add_argument("--layer", default=None,
                   help="D's stride-2 conv layer: conv1, conv2, ... (default conv3, or the last when D has fewer)")
    units = p.add_mutually_exclusive_group()
    units.add_argument("--units", type=int, nargs="+", metavar="U", help="these units (channels) of --layer")
    units.add_argument("--top-units", type=int, default=8, metavar="N",
                       help="the N most selective units (purest top-k; the strongest on an unlabelled source; "
                            "default 8)")
    p.add_argument("--k", type=int, default=8, help="top shapes per unit (default 8)")
    p.add_argument("--bn-statistics", default="reestimate", choices=NEURON_BN_STATISTICS,
                   help="BatchNorm statistics of D: re-estimated on the shapes (default, as `tf3dgan svm`) or D's "
                        "moving ones")
    p.add_argument("--compare-untrained", type=int, nargs="?", const=1, default=0, metavar="SEEDS",
                   help="also score untrained Ds of the same architecture: SEEDS initialisations from the run's "
                        "seed on (default 1)")
    p.add_argument("--image-size", type=int, default=96, help="pixels per rendered shape (default 96)")
    p.add_argument("--azimuth", type=float, default=AZIMUTH, help="camera azimuth in degrees (default 30)")
    p.add_argument("--elevation", type=float, default=ELEVATION, help="camera elevation in degrees (default 25)")
    p.add_argument("--out", required=True, help="HTML page (.html); the PNG sheet is written beside it (.png)")
    p.add_argument("--json", default=None, help="also write the selectivity numbers to this .json file")
    p.add_argument("--seed", type=int, default=0, help="seed of the chance draws and of 'synthetic' (default 0)")
    p.set_defaults(func=run)


def study(discriminator, voxels, labels, class_names, layer, args):
    """Responses of every unit of ``layer`` and (with labels) their selectivity."""
    from tf3dgan.evaluation import neurons

    with neurons.bn_statistics(discriminator, voxels, args.bn_statistics):
        responses = neurons.unit_responses(discriminator, voxels, layer)
    chosen = None if labels is None else neurons.selectivity(responses, labels, args.k, class_names, args.seed)
    return responses, chosen


def summary_line(title: str, layer: int, result: dict) -> str:
    return (f"{title}: conv{layer}, mean top-{result['k']} purity {result['mean_purity']:.3f} over "
            f"{result['live_units']} live units of {result['units']} (chance {result['chance_purity']:.3f}); "
            f"{result['significant_units']}/{result['live_units']} units purer than chance at p < 0.05 "
            f"({100 * result['significant_fraction']:.0f}%)")


def unit_rows_figure(rest, fields, titles, k: int, title: str) -> dict:
    """A plotly figure with one 3D scene per unit, its ``k`` shapes side by side (blue, the receptive field's
    voxels red): one WebGL context per unit, as browsers allow only a few per page."""
    from data_io.plotting import mesh_trace

    rows, size = len(rest) // k, rest[0].shape[0]
    gap = 1.25 * size
    axis = {"visible": False}
    layout = {"title": {"text": title}, "showlegend": False, "height": rows * 240 + 50, "width": max(900, 160 * k),
              "margin": {"l": 0, "r": 0, "t": 50, "b": 0}, "annotations": []}
    traces = []
    for row in range(rows):
        scene = "scene" if row == 0 else f"scene{row + 1}"
        top = 1 - row / rows
        layout[scene] = {"domain": {"x": [0, 1], "y": [top - 1 / rows, top]}, "xaxis": axis, "yaxis": axis,
                         "zaxis": axis, "aspectmode": "manual", "aspectratio": {"x": k / 2, "y": 0.4, "z": 0.4},
                         "camera": {"eye": {"x": -0.3, "y": 1.5, "z": 0.7}}}
        layout["annotations"].append({"text": titles[row * k].split(" #")[0], "showarrow": False, "xref": "paper",
                                      "yref": "paper", "x": 0.01, "y": top, "xanchor": "left", "yanchor": "top"})
        for column in range(k):
            index = row * k + column
            for grid, colour in ((rest[index], "#5b8fd1"), (fields[index], "#e63c32")):
                trace = mesh_trace(grid.astype(np.float32), 0.5, name=titles[index], scene=scene, color=colour)
                if trace is not None:
                    trace["x"] = [round(x + column * gap, 2) for x in trace["x"]]
                    traces.append(trace)
    return {"data": traces, "layout": layout}


def write_pictures(discriminator, voxels, responses, layer, units, labels, class_names, args):
    """The PNG sheet and the HTML page of the chosen units' top-k shapes; returns their paths."""
    from data_io.plotting import write_html
    from data_io.png import contact_sheet, write_png
    from tf3dgan.evaluation import neurons

    images, labels_text, rest, fields, titles = [], [], [], [], []
    for unit in units:
        top = neurons.top_shapes(responses, unit, args.k)
        masks = neurons.field_masks(discriminator, voxels, responses, layer, unit, top)
        images += list(neurons.highlighted_views(voxels[top], masks, args.azimuth, args.elevation, args.image_size))
        for rank, (shape, mask) in enumerate(zip(top, masks)):
            cls = class_names[labels[shape]] if labels is not None and class_names else ""
            labels_text.append(f"u{unit} {cls}" if rank == 0 else cls)
            titles.append(f"unit {unit} #{rank + 1}: shape {shape} {cls} ({responses.activation[shape, unit]:.2f})")
            grid = voxels[shape] > 0
            rest.append(grid & ~mask)
            fields.append(grid & mask)
    png = Path(args.out).with_suffix(".png")
    write_png(png, contact_sheet(images, columns=args.k, labels=labels_text))
    title = (f"conv{layer} units of {model_label(args)}: the top {len(rest) // len(units)} shapes each, receptive "
             "field in red")
    write_html(unit_rows_figure(rest, fields, titles, len(rest) // len(units), title), args.out,
               title=f"tf3dgan neurons: {model_label(args)}")
    return png, Path(args.out)


def run(args) -> int:
    from tf3dgan.evaluation import neurons
    from tf3dgan.evaluation.svm import untrained_discriminator

    if Path(args.out).suffix.lower() != ".html":
        raise UsageError(f"--out {args.out}: expected an .html page (the PNG sheet goes beside it)")
    if args.compare_untrained < 0:
        raise UsageError(f"--compare-untrained takes a number of seeds >= 1, got {args.compare_untrained}")
    for name in ("k", "top_units", "max_per_class", "count"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.image_size < 8:
        raise UsageError(f"--image-size must be >= 8, got {args.image_size}")
    config, gan, step, _ = load_model(args)
    d = gan.discriminator
    layer = neurons.parse_layer(d, args.layer or f"conv{min(3, len(d.output[1]))}")
    width = neurons.layer_width(d, layer)
    if args.units and any(not 0 <= u < width for u in args.units):
        raise UsageError(f"--units must be between 0 and {width - 1} (conv{layer} has {width} units), got {args.units}")
    voxels, labels, class_names, _ = load_shape_source(args, config.model.cube_len)
    if args.k > len(voxels):
        raise UsageError(f"--k {args.k} is more than the {len(voxels)} shapes of {args.data}")
    responses, selective = study(d, voxels, labels, class_names, layer, args)
    units = args.units or neurons.choose_units(responses, args.top_units, selective)
    results = {"run": model_label(args), "step": step, "data": str(args.data), "split": args.split,
               "shapes": len(voxels), "layer": f"conv{layer}", "bn_statistics": args.bn_statistics, "units": units}
    if selective is None:
        print(f"{args.data} has no class labels: no selectivity numbers, units chosen by their strongest responses")
    else:
        results["trained"] = selective
        print(summary_line(f"{model_label(args)} (step {step})", layer, selective))
        for unit in units:
            u = selective["per_unit"].get(unit)
            if u:
                print(f"  unit {unit:>4}: top-{args.k} purity {u['purity']:.3f} ({u['top_class']}), p {u['p_value']:.4f}")
    if args.compare_untrained:
        if selective is None:
            raise UsageError(f"--compare-untrained needs a labelled --data; {args.data} has no class labels")
        results["untrained"] = []
        for seed in range(config.train.seed, config.train.seed + args.compare_untrained):
            _, baseline = study(untrained_discriminator(config, seed), voxels, labels, class_names, layer, args)
            results["untrained"].append({"seed": seed, **baseline})
            print(summary_line(f"untrained D (same architecture, seed {seed})", layer, baseline))
        if args.compare_untrained > 1:
            purity = np.array([b["mean_purity"] for b in results["untrained"]])
            share = np.array([b["significant_fraction"] for b in results["untrained"]])
            print(f"untrained Ds over {len(purity)} seeds: mean top-{args.k} purity {purity.mean():.3f} "
                  f"(min {purity.min():.3f}, max {purity.max():.3f}); units purer than chance "
                  f"{100 * share.mean():.0f}% (min {100 * share.min():.0f}%, max {100 * share.max():.0f}%)")
    png, html = write_pictures(d, voxels, responses, layer, units, labels, class_names, args)
    print(f"wrote {png} and {html}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0
