"""Layer tables, parameter counts by kind and analytic FLOPs of the networks (``tf3dgan describe``)."""

from __future__ import annotations

import math

import keras
from keras import layers


def _macs(layer) -> int:
    """Multiply-accumulates of one forward pass of ``layer`` for one sample."""
    if isinstance(layer, layers.Conv3DTranspose):
        kernel = math.prod(layer.kernel.shape)  # k^3 * cout * cin
        return math.prod(layer.input.shape[1:4]) * kernel
    if isinstance(layer, layers.Conv3D):
        return math.prod(layer.output.shape[1:4]) * math.prod(layer.kernel.shape)
    if isinstance(layer, layers.Conv2D):  # the image encoder of the 3D-VAE-GAN variants
        return math.prod(layer.output.shape[1:3]) * math.prod(layer.kernel.shape)
    if isinstance(layer, layers.Dense):
        return math.prod(layer.kernel.shape)
    return 0


def _param_kinds(layer) -> dict:
    kinds = {"conv_weights": 0, "dense_weights": 0, "biases": 0, "batchnorm": 0}
    if isinstance(layer, (layers.Conv3D, layers.Conv3DTranspose, layers.Conv2D)):
        kinds["conv_weights"] = math.prod(layer.kernel.shape)
    elif isinstance(layer, layers.Dense):
        kinds["dense_weights"] = math.prod(layer.kernel.shape)
    if isinstance(layer, layers.BatchNormalization):
        kinds["batchnorm"] = sum(math.prod(w.shape) for w in layer.weights)
    elif getattr(layer, "bias", None) is not None:
        kinds["biases"] = math.prod(layer.bias.shape)
    return kinds


def layer_table(model: keras.Model) -> list[dict]:
    """One row per layer: name, type, output shape, parameters, MACs per sample."""
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        shape = layer.output.shape
        rows.append({
            "name": layer.name,
            "type": type(layer).__name__,
            "output_shape": [None if d is None else int(d) for d in (shape if isinstance(shape, tuple) else shape)],
            "params": int(sum(math.prod(w.shape) for w in layer.weights)),
            "macs": int(_macs(layer)),
        })
    return rows


def network_stats(model: keras.Model) -> dict:
    """Parameter counts by kind (``conv_weights``, ``dense_weights``, ``biases``, ``batchnorm``), totals and FLOPs.

    ``batchnorm`` counts gamma, beta and the two moving statistics; ``trainable`` excludes the latter.
    FLOPs are 2 x MACs of the convolutions and dense layers (elementwise work is not counted).
    """
    params = {"conv_weights": 0, "dense_weights": 0, "biases": 0, "batchnorm": 0}
    macs = 0
    for layer in model.layers:
        for kind, count in _param_kinds(layer).items():
            params[kind] += count
        macs += _macs(layer)
    params["total"] = int(sum(math.prod(w.shape) for w in model.weights))
    params["trainable"] = int(sum(math.prod(w.shape) for w in model.trainable_weights))
    return {"params": params, "macs_per_sample": int(macs), "flops_per_sample": int(2 * macs)}


def describe_gan(gan) -> dict:
    """Stats of G, D (and an encoder) of a GAN, plus their layer tables."""
    nets = {"generator": gan.generator, "discriminator": gan.discriminator}
    if gan.encoder is not None:
        nets["encoder"] = gan.encoder
    return {name: {**network_stats(net), "layers": layer_table(net)} for name, net in nets.items()}


def format_description(description: dict) -> str:
    """A human-readable table of ``describe_gan``'s result."""
    lines = []
    for name, stats in description.items():
        lines.append(f"{name}")
        lines.append(f"  {'layer':<16}{'type':<22}{'output shape':<26}{'params':>12}{'MMACs':>12}")
        for row in stats["layers"]:
            shape = "(" + ", ".join("B" if d is None else str(d) for d in row["output_shape"]) + ")"
            lines.append(
                f"  {row['name']:<16}{row['type']:<22}{shape:<26}{row['params']:>12,}{row['macs'] / 1e6:>12.1f}"
            )
        p = stats["params"]
        lines.append(
            f"  params: {p['total']:,} total ({p['trainable']:,} trainable) = conv weights {p['conv_weights']:,}"
            f" + dense weights {p['dense_weights']:,} + biases {p['biases']:,} + batchnorm {p['batchnorm']:,}"
        )
        lines.append(
            f"  forward cost per sample: {stats['macs_per_sample'] / 1e9:.3f} G multiply-adds"
            f" ({stats['flops_per_sample'] / 1e9:.2f} GFLOP)"
        )
        lines.append("")
    return "\n".join(lines)
