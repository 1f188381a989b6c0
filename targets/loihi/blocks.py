"""Split layers into the mapping pass's blocks: one Lava process per block, as on the chip.

The mapping pass (:mod:`neurodeploy.passes.mapping`) decides how a neuron layer is cut
(channel groups x spatial tiles); :func:`split_lowered` makes those blocks real processes in a
:class:`~.lower.LoweredNetwork`: for every block of a LIF layer fed by one conv, a ``slice``
(the block's input window, halo included, zeros where the conv pads), a ``Conv`` with the
block's output channels and no padding, and a ``LIFReset`` of the block's neurons; an
``assemble`` node, named after the layer, puts the blocks back together for its consumers.
Slices and assembly are routing (no latency), so every latency and delay line stays as it was.
:func:`assemble_records` rebuilds the layer's record from its blocks' records.
"""

from __future__ import annotations

import copy

import numpy as np

from neurodeploy.errors import LoweringError
from neurodeploy.passes.mapping import Mapping
from neurodeploy.targets.loihi.lower import LavaEdge, LavaNode, LoweredNetwork


def _conv_of(lowered: LoweredNetwork, layer: str) -> LavaEdge:
    ins = lowered.inputs_of(layer)
    if len(ins) != 1 or lowered.nodes[ins[0].src].kind != "conv":
        raise LoweringError(f"layer '{layer}' is not fed by exactly one conv; only such layers are split yet")
    conv = lowered.nodes[ins[0].src]
    if f"{conv.name}+bias" in lowered.nodes or conv.params["groups"] != 1:
        raise LoweringError(f"conv '{conv.name}' carries a bias relay or groups; not split yet")
    if len([e for e in lowered.edges if e.src == conv.name]) != 1:
        raise LoweringError(f"conv '{conv.name}' feeds more than '{layer}'; not split yet")
    return ins[0]


def split_lowered(lowered: LoweredNetwork, mapping: Mapping, layers: list[str] | None = None) -> LoweredNetwork:
    """A copy of ``lowered`` whose LIF ``layers`` (default: every mapped LIF layer of more than one
    block) run as one process per block of ``mapping``."""
    layers = layers if layers is not None else [n for n, u in mapping.units.items()
                                                if u.kind == "lif" and u.blocks > 1 and n in lowered.nodes]
    nodes = dict(lowered.nodes)
    edges = list(lowered.edges)
    for layer in layers:
        unit = mapping.units[layer]
        into = _conv_of(lowered, layer)
        conv, lif = nodes[into.src], nodes[layer]
        feeding = [e for e in edges if e.dst == conv.name]
        p = conv.params
        (sx, sy), (px, py), (dx, dy) = p["stride"], p["padding"], p["dilation"]
        _, kx, ky, c_in = p["weight"].shape
        new_nodes: dict[str, LavaNode] = {}
        new_edges: list[LavaEdge] = []
        regions, shapes = [], []
        for k, ((c0, c1), (y0, y1), (x0, x1)) in enumerate(unit.block_regions()):
            wx = (x0 * sx - px, (x1 - 1) * sx - px + dx * (kx - 1) + 1)
            wy = (y0 * sy - py, (y1 - 1) * sy - py + dy * (ky - 1) + 1)
            win = (wx[1] - wx[0], wy[1] - wy[0], c_in)
            shape = (x1 - x0, y1 - y0, c1 - c0)
            s_name, c_name, l_name = f"{conv.name}#{k}:in", f"{conv.name}#{k}", f"{layer}#{k}"
            new_nodes[s_name] = LavaNode(s_name, "slice", win, {"x": wx, "y": wy, "c": (0, c_in)},
                                         latency=nodes[feeding[0].src].latency if feeding else 0,
                                         in_shapes=[p["input_shape"]])
            new_nodes[c_name] = LavaNode(c_name, "conv", shape, {
                **p, "weight": np.ascontiguousarray(p["weight"][c0:c1]), "input_shape": win, "padding": (0, 0)},
                latency=conv.latency)
            lp = copy.copy(lif.params)
            lp["bias"] = np.ascontiguousarray(np.asarray(lif.params["bias"])[x0:x1, y0:y1, c0:c1])
            lp["block_of"] = (layer, (x0, x1, y0, y1, c0, c1))
            new_nodes[l_name] = LavaNode(l_name, "lif", shape, lp, latency=lif.latency)
            new_edges += [LavaEdge(e.src, s_name, e.kind, e.delay, src_port=e.src_port, reshape=e.reshape)
                          for e in feeding]
            new_edges += [LavaEdge(s_name, c_name, feeding[0].kind if feeding else "real"),
                          LavaEdge(c_name, l_name, into.kind), LavaEdge(l_name, layer, "binary", dst_port=k)]
            regions.append((x0, x1, y0, y1, c0, c1))
            shapes.append(shape)
        assemble = LavaNode(layer, "assemble", lif.shape, {"regions": regions, "shape": lif.shape},
                            latency=lif.latency, in_shapes=shapes)
        order = []
        for name, node in nodes.items():
            if name == conv.name:
                order += list(new_nodes.items())
            elif name == layer:
                order.append((layer, assemble))
            else:
                order.append((name, node))
        nodes = dict(order)
        edges = [e for e in edges if e.dst != conv.name and e.src != conv.name] + new_edges
    return LoweredNetwork(lowered.t_steps, nodes, edges, lowered.balanced, lowered.sample_gap,
                          list(lowered.layers), lowered.output_layer)


def assemble_records(records: dict[str, np.ndarray], lowered: LoweredNetwork) -> dict[str, np.ndarray]:
    """Raw records (Lava layout, steps) with every split layer rebuilt from its blocks' records."""
    out = dict(records)
    for name, node in lowered.nodes.items():
        block_of = node.params.get("block_of") if node.kind == "lif" else None
        if not block_of or name not in records:
            continue
        layer, (x0, x1, y0, y1, c0, c1) = block_of
        if layer not in out:
            out[layer] = np.zeros(tuple(lowered.nodes[layer].shape) + records[name].shape[-1:], records[name].dtype)
        out[layer][x0:x1, y0:y1, c0:c1] = records[name]
    return out
