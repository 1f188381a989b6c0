"""Cross-checks against snntorch and norse: our graphs in their simulators, as executors.

**Our graphs out.** :func:`load_into_snntorch` and :func:`load_into_norse` apply the
workarounds their importers need (see the functions) and return their torch modules;
:func:`run_library` runs a library's module over T steps and records spikes as Traces.

Their graphs come in like every ``.nir`` file, through the one import
(:func:`neurodeploy.ir.read_deploy_graph`, in memory :func:`neurodeploy.ir.import_graph`; the
writers' quirks in :data:`neurodeploy.ir.nirread.WRITERS`, their neuron rules in
:mod:`neurodeploy.ir.rules`). Registered executors (``neurodeploy.targets``): ``snntorch`` and
``norse`` run a bundle's graph (Input/Conv2d/LIF/Output only) in those libraries.

What the writers put into ``nir.LIF`` (read from the snntorch 1.0.0 / norse 1.1.0
sources), and the discrete step each library runs (``v`` membrane, ``x`` input, ``S`` spike):

- **snntorch** ``Leaky(beta, threshold)`` -> ``tau = dt/(1-beta)``, ``r = tau/dt``,
  ``v_leak = v_reset = 0``, with ``dt = 1e-4`` s hard-coded in export and import; the
  reset mechanism is *not* written. Step: ``H = beta v + x``; ``S = H > thr`` (the
  surrogate's forward is ``x > 0``); reset "zero": ``v = H (1 - S)`` (``reset_delay``
  True or False give the same spikes); reset "subtract" (snntorch's default!):
  ``v = beta v + x - S_prev thr`` (the previous step's spike subtracted after the decay,
  one step late), which Lava's LIF cannot compute; ``read_graph(writer="snntorch",
  reset="subtract")`` runs it (:mod:`neurodeploy.ir.rules`, Lava ``RuleLIF``). Spikes are float32 whatever the
  module dtype, so snntorch nets run in float32.
- **norse** ``LIFBoxCell(tau_mem_inv, v_th)`` -> ``tau = dt/tau_mem_inv`` (wrong by a
  factor dt^2: the time constant is ``1/tau_mem_inv``; norse/norse#411), ``r = 1``,
  ``dt = to_nir(dt=1e-3)``; ``v_reset`` not written (NIR default 0 = norse default).
  Step: ``v += dt tau_mem_inv (v_leak - v + x)``; ``S = v > v_th``; ``v = v_reset`` where
  S (``reset_value``; ``reset_subtract`` is not written either).
- **Lava** LIF (``targets/loihi/lower.py``): ``v = v (1-dv) + u + bias``, ``S = v > vth``,
  ``v = 0`` where S.
- **ours** (``neurodeploy.nir_export.lif_to_nir``): ``tau = tau_steps dt``, ``r = tau_steps``;
  step ``H = V - V/tau_steps + X``, ``S = H >= th``, hard reset to 0.
"""

from __future__ import annotations

import contextlib
import copy
import io
from dataclasses import replace

import nir
import numpy as np
import torch
from torch import nn

from neurodeploy.errors import LoweringError
from neurodeploy.ir import GraphInfo, graph_info, predecessors
from neurodeploy.ir.nirread import WRITER_DT_S
from neurodeploy.trace import Trace

SUPPORTED = "Input, Conv2d, LIF, Output"  # the graphs snntorch's and norse's importers load


def export_snntorch(net: nn.Module, input_shape: tuple[int, int, int]) -> nir.NIRGraph:
    """snntorch's own exporter without its failing shape inference (workaround).

    ``snntorch.export_nir.export_to_nir`` (1.0.0) ends with ``nir_graph.infer_types()``,
    which fails on every Conv2d + Leaky network: with a batched sample the Input carries
    the batch dimension and NIR indexes the 2-tuple padding at [2] (``IndexError``,
    neuromorphs/NIR#69); without it, Leaky's scalar beta/threshold give the LIF node an
    empty shape and inference stops at "type mismatch ... -> lif.input: []"
    (jeshraghian/snntorch#410, #367). This calls the same per-module mapping
    (``_extract_snntorch_module``) through nirtorch without ``infer_types``; shapes are
    then inferred by the import (:func:`neurodeploy.ir.import_graph`). (The other way out, for users who need a
    ``.nir`` file from snntorch itself: per-neuron ``beta``/``threshold`` tensors of the
    layer's shape and an unbatched sample; ``tests/test_interop.py`` runs that file.)
    """
    import nirtorch
    import snntorch as snn
    from snntorch.export_nir import _extract_snntorch_module

    return nirtorch.extract_nir_graph(net, _extract_snntorch_module, torch.zeros(1, *input_shape),
                                      model_name="snntorch", ignore_submodules_of=[snn.RLeaky, snn.RSynaptic],
                                      ignore_dims=[0])


def plain_nir(graph: nir.NIRGraph) -> tuple[nir.NIRGraph, GraphInfo]:
    """A copy of our exported graph in NIR's own node types only, and its GraphInfo.

    Our exporter writes the encoder and decoder as neurodeploy node types
    (``neurodeploy.DirectEncode``, ``neurodeploy.TemporalMean``) that other readers
    rightly refuse. For them the per-step network is Input -> ... -> Output with the
    image fed on every step and the output averaged over T by the caller (as
    :func:`run_library` does), so those two nodes are bypassed here.

    Raises:
        LoweringError: a node other than Input, Conv2d, LIF, Output remains, named.
    """
    info = graph_info(graph)
    nodes, edges = dict(copy.deepcopy(graph.nodes)), list(graph.edges)
    for name, kind in info.node_kinds.items():
        if kind in ("encode", "decode_mean") and name in nodes:
            preds = [s for s, d in edges if d == name]
            succs = [d for s, d in edges if s == name]
            edges = [e for e in edges if name not in e] + [(p, q) for p in preds for q in succs]
            del nodes[name]
    for name, node in nodes.items():
        if not isinstance(node, (nir.Input, nir.Conv2d, nir.LIF, nir.Output)):
            raise LoweringError(f"node '{name}' ({type(node).__name__}) has no snntorch/norse equivalent; "
                                f"only {SUPPORTED} graphs load there")
    out = nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(graph.metadata or {}), type_check=False)
    return out, info


def _ge_as_gt(graph: nir.NIRGraph, info: GraphInfo) -> None:
    """Make a ``>`` library fire where our ``>=`` neurons fire, in float32 (in place).

    Both importers cast parameters to float32 and fire on ``v > th``; for float32 ``v``,
    ``v > nextafter(th, -inf)`` holds exactly when ``v >= th``.
    """
    for name, cond in info.spike_condition.items():
        if cond == ">=":
            lif = graph.nodes[name]
            th32 = np.asarray(lif.v_threshold, dtype=np.float32)
            lif.v_threshold = np.nextafter(th32, np.float32(-np.inf)).astype(np.float64)
            info.spike_condition[name] = ">"


def load_into_snntorch(graph: nir.NIRGraph, emulate_ge: bool = True) -> nn.Module:
    """Our exported graph as an snntorch module (``snntorch.import_nir.import_from_nir``).

    Workarounds applied to a copy of the graph:
    - snntorch's importer hard-codes ``dt = 1e-4`` s (beta = 1 - 1e-4/tau; with our default
      1e-3 s it would build beta = 1 - 0.1/tau_steps and a threshold scaled by 10); the
      taus are rescaled to ``tau_steps * 1e-4`` s, which is the same discrete model.
    - with ``emulate_ge``, thresholds move down one float32 ulp so snntorch's ``>`` fires
      where our ``>=`` does (see :func:`_ge_as_gt`).
    The module keeps its state inside each ``Leaky`` (``init_hidden=True``); call it once
    per time step.
    """
    from snntorch.import_nir import import_from_nir

    graph, info = plain_nir(graph)
    scale = WRITER_DT_S["snntorch"] / info.dt_s
    for name in info.neuron_layers(graph):
        lif = graph.nodes[name]
        lif.tau = np.asarray(lif.tau, dtype=np.float64) * scale
    info = replace(info, dt_s=WRITER_DT_S["snntorch"])
    if emulate_ge:
        _ge_as_gt(graph, info)
    # import_from_nir prints progress and its warnings to stdout; keep the caller's output clean.
    with contextlib.redirect_stdout(io.StringIO()):
        return import_from_nir(graph)


def load_into_norse(graph: nir.NIRGraph, emulate_ge: bool = True) -> tuple[nn.Module, float]:
    """Our exported graph as a norse module (``norse.torch.from_nir``) and the dt to run it.

    Workarounds applied to a copy of the graph:
    - norse's importer drops ``nir.LIF.r`` (it logs a warning and builds
      ``v += dt/tau (x - v)``, input gain ``dt/tau``); NIR's gain is ``dt r / tau``. The
      factor ``r`` is folded into the weights and bias of every conv feeding the neuron
      and ``r`` set to 1, which is the same model.
    - ``dt`` is passed to ``from_nir`` from the graph (norse's default is 1e-3 s).
    - with ``emulate_ge``, as :func:`load_into_snntorch`.
    Returns ``(module, dt_s)``; call ``module(x, state)`` once per step.
    """
    import norse.torch as norse

    graph, info = plain_nir(graph)
    for name in info.neuron_layers(graph):
        lif = graph.nodes[name]
        r = np.asarray(lif.r, dtype=np.float64)
        if not np.all(r == r.flat[0]):
            raise LoweringError(f"neuron '{name}': r varies across neurons; cannot fold it into the conv")
        for src in predecessors(graph, name):
            conv = graph.nodes[src]
            if not isinstance(conv, nir.Conv2d):
                raise LoweringError(f"neuron '{name}' is fed by '{src}' ({type(conv).__name__}); "
                                    "folding r needs a conv")
            conv.weight = np.asarray(conv.weight, dtype=np.float64) * r.flat[0]
            conv.bias = np.asarray(conv.bias, dtype=np.float64) * r.flat[0]
        lif.r = np.ones_like(r)
    if emulate_ge:
        _ge_as_gt(graph, info)
    return norse.from_nir(graph, dt=info.dt_s), info.dt_s


def _submodule(module: nn.Module, layer: str) -> nn.Module:
    """The module of NIR node ``layer``; nirtorch's importers rename "a.b" to "a_b"."""
    for candidate in (layer, layer.replace(".", "_"), "nir_node_" + layer):
        try:
            return module.get_submodule(candidate)
        except AttributeError:
            continue
    raise LoweringError(f"layer '{layer}' is not a submodule of the imported {type(module).__name__}")


def run_library(module: nn.Module, images: np.ndarray, t_steps: int, layers: list[str], library: str,
                dtype: torch.dtype = torch.float32, name: str | None = None) -> list[Trace]:
    """Run an snntorch or norse module over ``t_steps`` steps and record spikes per layer.

    Args:
        module: ``nn.Sequential``/``norse.SequentialState`` or an imported graph module.
        images: ``(N, C, H, W)`` model units; the same image is fed on every step
            (direct encoding, as our Lava executor does).
        layers: submodule names to record (NIR node names: nirtorch names nodes by module path).
        library: ``"snntorch"`` (state inside the Leaky modules; reset first) or
            ``"norse"`` (state passed through ``module(x, state)``).
    Returns one Trace per image; layers ``(T, C, H, W)``, output = mean over T of the
    module's per-step output.
    """
    module = copy.deepcopy(module).to(dtype).eval()
    recorded: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    handles = [_submodule(module, layer).register_forward_hook(
        lambda mod, args, out, layer=layer: recorded[layer].append(
            (out[0] if isinstance(out, tuple) else out).detach()))
        for layer in layers]
    if library == "snntorch":
        for m in module.modules():
            if hasattr(m, "reset_mem"):
                m.reset_mem()
    x = torch.as_tensor(images, dtype=dtype)
    outs, state = [], None
    try:
        with torch.no_grad():
            for _ in range(t_steps):
                if library == "norse":
                    out, state = module(x, state)
                else:
                    out = module(x)
                    out = out[0] if isinstance(out, tuple) else out
                outs.append(out)
    finally:
        for h in handles:
            h.remove()
    out = torch.stack(outs).mean(0).double().numpy()
    spikes = {layer: torch.stack(v).double().numpy() for layer, v in recorded.items()}
    return [Trace(name or library, t_steps, {k: v[:, i] for k, v in spikes.items()}, out[i])
            for i in range(images.shape[0])]


class LibraryExecutor:
    """A bundle's graph run in snntorch or norse (float32, as those libraries run), as an executor."""

    def __init__(self, graph: nir.NIRGraph, info: GraphInfo, library: str):
        self.name, self.library = library, library
        self.t_steps, self.layers = info.t_steps, info.neuron_layers(graph)
        if library == "snntorch":
            self.module = load_into_snntorch(graph)
        else:
            self.module, _ = load_into_norse(graph)

    def run(self, images: np.ndarray) -> list[Trace]:
        import time

        start = time.perf_counter()
        traces = run_library(self.module, np.asarray(images), self.t_steps, self.layers, self.library)
        for t in traces:
            t.meta["run_s"] = (time.perf_counter() - start) / len(traces)
        return traces
