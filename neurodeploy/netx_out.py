"""``chip.net``: a bundle's chip part as a lava-dl netx HDF5 file, for the graphs netx can express.

``lava.lib.dl.netx.hdf5.Network`` (lava-dl 0.6) loads a *sequential* list of layers (input,
dense, conv, flatten) whose neurons are Lava LIFs with one ``du``, ``dv``, ``vth`` per layer,
a bias on ``v`` (``bias_mant << 6``) and binary spikes in and out. A quantized ``.nir`` file's
bundle whose chip part is such a chain is written in the layout slayer's ``export_hdf5`` uses
(``layer/I/type``, ``shape`` in (C, H, W), ``weight``, ``neuron/{type, iDecay, vDecay, vThMant,
refDelay, gradedSpike}``), with the bundle's own integers; a dense layer whose neurons feed
themselves back through one Dense (a recurrent loop, issue 28) is a ``dense_rec`` layer with
``weight_rec`` (netx's ``RecurrentDense``):

- weights: ``weight_mant << weight_exp`` (netx re-derives its own exponent from them);
  a negative exponent (a right shift of the sums, which rounds) has no netx form;
- neuron: ``iDecay = du + 1`` (netx passes ``iDecay - 1`` to Lava), ``vDecay = dv``,
  ``vThMant = vth_mant``;
- an ``input`` layer with the input's shape (netx's input shape for a conv first layer).

Everything else gets a reason instead (``manifest["netx"]["reason"]``), the first thing found that
netx cannot express: a join or skip (netx has no branches), a delay line, a constant input
(ours enters the current, netx's bias the voltage), a writer's neuron rules (Lava's LIF only),
a non-spiking neuron, graded or real-valued input, an unquantized bundle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nir
import numpy as np

from neurodeploy.ir.graph import DeployGraph
from neurodeploy.ir.primitives import NIR_NEURON_KINDS

CHIP_NET = "chip.net"


def _recurrent(g: DeployGraph) -> dict[str, str]:
    """Recurrent synapse -> the neuron it loops on: a synapse fed by a neuron's previous step and feeding
    that neuron back (``ir.order``'s delayed and back edges), netx's ``dense_rec``."""
    back = set(g.loops.back)
    return {syn: n for n, syn in g.loops.delayed if (syn, n) in back}


def _chain(g: DeployGraph) -> tuple[list[str] | None, str | None]:
    """The graph's nodes in chain order, or the reason it is not a chain (a layer's recurrent synapse
    is no branch: it is written into the layer, ``dense_rec``)."""
    rec = _recurrent(g)
    for name in g.order:
        if name in rec:
            continue  # a layer's recurrent synapse: written into that layer
        preds = [p for p in g.predecessors(name) if rec.get(p) != name]
        succs = [d for d in g.successors(name) if rec.get(d) != name]
        if len(preds) > 1:
            return None, f"'{name}' joins {len(preds)} paths; netx 0.6 loads sequential networks only (no joins or skips)"
        if len(succs) > 1:
            return None, f"'{name}' feeds {len(succs)} nodes; netx 0.6 loads sequential networks only (no branches)"
    return [n for n in g.order if n not in rec], None


def _two_groups(name: str, q: dict) -> str:
    return (f"synapse '{name}' has {q.get('weight_bits')}-bit weights in two synapse groups (--weight-bits); a netx "
            "layer holds one group of 8-bit weights")


def chip_net_plan(g: DeployGraph, quant: dict | None, ints: dict | None) -> tuple[list[dict] | None, str | None]:
    """The netx layers of an annotated, quantized sequence graph (``g`` after the passes; ``quant``/``ints``
    its integers), or ``(None, reason)``."""
    if quant is None or ints is None:
        return None, "the bundle is not quantized (export with --quantize int); netx takes Loihi integers"
    order, why = _chain(g)
    if why:
        return None, why
    layers: list[dict[str, Any]] = []
    pending: dict[str, Any] | None = None  # a synapse waiting for its neuron
    for name in order:
        kind, node = g.kind(name), g.node(name)
        q = quant.get(name, {})
        if kind == "input":
            if q.get("mode") != "spikes" or float(q.get("scale", 1.0)) != 1.0:
                return None, (f"the input carries {q.get('mode', 'values')} (scale {q.get('scale')}); a netx network "
                              "written here takes binary spikes of 1")
            layers.append({"type": "input", "shape": list(g.shape(name))})
        elif kind == "output":
            continue
        elif isinstance(node, nir.Flatten):
            layers.append({"type": "flatten", "shape": [int(np.prod(g.shape(name))), 1, 1]})
        elif isinstance(node, (nir.Linear, nir.Affine, nir.Conv2d)):
            if pending is not None:
                return None, f"'{name}' follows another synapse with no neuron between; netx pairs each with a neuron"
            exp = int(q.get("weight_exp", 0))
            if q.get("synapse_groups", 1) > 1:
                return None, _two_groups(name, q)
            if exp < 0:
                return None, (f"synapse '{name}' shifts its sums right by {-exp} (rounding), which netx's integer "
                              "weights cannot hold")
            w = np.asarray(ints[name]["weight_mant"], dtype=np.int64) << exp
            if isinstance(node, nir.Conv2d):
                geo = {k: [int(v) for v in np.broadcast_to(np.asarray(getattr(node, k)), (2,))]
                       for k in ("stride", "padding", "dilation")}
                pending = {"type": "conv", "weight": w, "groups": int(np.asarray(node.groups).reshape(-1)[0]), **geo,
                           "syn": name}
            else:
                pending = {"type": "dense", "weight": w.reshape(w.shape[0], -1), "syn": name}
        elif kind in NIR_NEURON_KINDS:
            if pending is None:
                return None, f"neuron '{name}' has no synapse of its own before it; netx pairs each neuron with one"
            if not q.get("spiking", True) or q.get("model") != "LIFReset":
                why = "does not fire (a state layer)" if not q.get("spiking", True) else "runs a writer's neuron rules"
                return None, f"neuron '{name}' {why}; netx builds Lava's LIF only"
            if name in ints and np.any(np.asarray(ints[name].get("const_mant", 0)) != 0):
                return None, (f"neuron '{name}' has a constant input on its current; netx's bias enters the voltage "
                              "(bias_mant << 6), a different neuron")
            layers.append({**pending, "shape": list(g.shape(name)), "neuron": name,
                           "iDecay": int(q["du"]) + 1, "vDecay": int(q["dv"]), "vThMant": int(q["vth_mant"])})
            pending = None
            loop = [syn for syn, n in _recurrent(g).items() if n == name]
            if loop:  # netx's RecurrentDense: the neuron's spikes back to its input through weight_rec
                syn, q_rec = loop[0], quant.get(loop[0], {})
                if q_rec.get("synapse_groups", 1) > 1:
                    return None, _two_groups(syn, q_rec)
                exp = int(q_rec.get("weight_exp", 0))
                if layers[-1]["type"] != "dense" or not isinstance(g.node(syn), (nir.Linear, nir.Affine)) or exp < 0:
                    return None, (f"recurrent synapse '{syn}' is not a dense layer's Dense with integer weights; "
                                  "netx's recurrent layer is dense_rec only")
                layers[-1]["type"] = "dense_rec"
                layers[-1]["weight_rec"] = np.asarray(ints[syn]["weight_mant"], dtype=np.int64) << exp
        else:
            return None, f"'{name}' ({kind}) is not a layer netx loads (input, dense, conv, flatten, CUBA neurons)"
    if pending is not None:
        return None, f"synapse '{pending['syn']}' has no neuron after it"
    return layers, None


def write_chip_net(path: Path, layers: list[dict]) -> dict[str, int]:
    """Write ``layers`` (:func:`chip_net_plan`) as a netx file; returns neuron node -> netx layer index."""
    import h5py

    index: dict[str, int] = {}
    with h5py.File(path, "w") as f:
        group = f.create_group("layer")
        for i, layer in enumerate(layers):
            h = group.create_group(str(i))
            h.create_dataset("type", (1,), "S10", [layer["type"].encode("ascii")])
            h.create_dataset("shape", data=np.array(layer["shape"], dtype=np.int64))
            if layer["type"] not in ("dense", "dense_rec", "conv"):
                continue
            w = layer["weight"]
            h.create_dataset("weight", data=w.astype(np.float32))
            if "weight_rec" in layer:  # slayer's export_hdf5 of a Recurrent block writes it so
                h.create_dataset("weight_rec", data=layer["weight_rec"].astype(np.float32))
            if layer["type"] in ("dense", "dense_rec"):
                h.create_dataset("inFeatures", data=int(w.shape[1]))
                h.create_dataset("outFeatures", data=int(w.shape[0]))
            else:
                h.create_dataset("inChannels", data=int(w.shape[1] * layer["groups"]))
                h.create_dataset("outChannels", data=int(w.shape[0]))
                h.create_dataset("kernelSize", data=np.array(w.shape[2:], dtype=np.int64))
                for key in ("stride", "padding", "dilation"):
                    h.create_dataset(key, data=np.array(layer[key], dtype=np.int64))
                h.create_dataset("groups", data=int(layer["groups"]))
            h.create_dataset("neuron/type", data="CUBA")
            for key in ("iDecay", "vDecay", "vThMant"):
                h.create_dataset(f"neuron/{key}", data=int(layer[key]))
            h.create_dataset("neuron/refDelay", data=1)
            h.create_dataset("neuron/gradedSpike", data=False)
            index[layer["neuron"]] = i
    return index


__all__ = ["CHIP_NET", "chip_net_plan", "write_chip_net"]
