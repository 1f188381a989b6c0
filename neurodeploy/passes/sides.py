"""Which node kinds Loihi 2 runs: the table the partition (:mod:`.partition`) and the residency
rewrites (:mod:`.residency`) both read, so that neither imports the other.
"""

from __future__ import annotations

from neurodeploy.ir.graph import DeployGraph

CHIP_KINDS = ("conv", "lif", "nilif", "patch_to_time", "upsample", "concat", "sum", "gain")
# Kinds the chip runs when the graph's residency (``GraphInfo.residency``, chosen at export) asks
# for them: a product of two activations as a product neuron (Loihi 2's programmable neurons
# multiply their two dendritic inputs; Lava's ``lava.proc.prodneuron`` is Intel's reference).
# A split gate block (residency gates) adds max trees and ReLUs of graded values (trees of graded
# ReLU neurons: max(a, b) = b + relu(a - b); Lava's ``lava.proc.graded.GradedVec`` is a ReLU).
RESIDENT_KINDS = {"host": (), "products": ("product",), "gates": ("product", "max", "relu")}
# Readouts and holds, kept on the chip with residency gates: the decoder's (weighted) mean over T as
# neurons that accumulate, which the host reads once per image, and the direct encoder as neurons that
# hold the image the host sends once per image (Lava: a Readout process, per-step input weights).
READOUT_KINDS = {"host": (), "products": (), "gates": ("decode_mean", "encode")}
# A sequence graph's (another writer's file, GraphInfo.takes_sequences): NIR's synapses, neurons,
# routing and delays, all of which its Lava map runs; its Input and Output are the host's.
SEQUENCE_CHIP_KINDS = ("conv", "lif", "affine", "linear", "conv1d", "flatten", "sumpool", "avgpool", "scale",
                       "delay", "i", "li", "if", "cubali", "cubalif", "threshold", "sigma_delta")


def side_of(g: DeployGraph, name: str) -> str:
    """``chip`` when Loihi 2 runs the node's kind (given the graph's residency) on time steps -- or reads
    them out once per image (:data:`READOUT_KINDS`) -- else ``host``."""
    if g.info.takes_sequences:
        return "chip" if g.kind(name) in SEQUENCE_CHIP_KINDS and g.domain(name) == "seq" else "host"
    if g.kind(name) in READOUT_KINDS[g.info.residency]:
        return "chip"
    kinds = CHIP_KINDS + RESIDENT_KINDS[g.info.residency]
    return "chip" if g.kind(name) in kinds and g.domain(name) == "seq" else "host"
