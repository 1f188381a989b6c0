"""The Python 3.11 shim for lava-nc: still needed, still working, fails loudly on change."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest

from neurodeploy.targets.loihi import compat


def _find_source() -> str:
    import lava.magma.compiler as pkg

    spec = importlib.machinery.PathFinder.find_spec(compat.TARGET_MODULE, pkg.__path__)
    with open(spec.origin, encoding="utf-8") as f:
        return f.read()


def _exec_as_module(source: str, name: str) -> dict:
    """Execute ``source`` as a fresh module named ``name`` (dataclasses need it in sys.modules)."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        exec(compile(source, "var_model.py", "exec"), module.__dict__)
    finally:
        del sys.modules[name]
    return module.__dict__


def test_fix_is_still_needed():
    """If lava (or Python) stops rejecting the original module, this shim can go."""
    with pytest.raises(ValueError, match="mutable default"):
        _exec_as_module(_find_source(), "var_model_unpatched")


def test_patch_rewrites_exactly_eight_lines_and_runs():
    source = _find_source()
    patched = compat.patch_source(source)
    assert patched.count("_nd_field(default_factory=ByteEncoder)") == compat.EXPECTED_FIXES
    namespace = _exec_as_module(patched, "var_model_patched")
    # The dataclasses now build, each with its own encoder instance.
    a, b = namespace["CoreEncoder"](), namespace["CoreEncoder"]()
    assert a.x is not b.x


def test_patch_fails_loudly_when_lava_changes():
    source = _find_source()
    changed = source.replace("x: ByteEncoder = ByteEncoder()", "x: ByteEncoder = None", 1)
    with pytest.raises(compat.LavaCompatError, match="expected 8"):
        compat.patch_source(changed)


@pytest.mark.lava
def test_lava_imports_and_a_small_network_runs():
    import numpy as np

    from neurodeploy.targets.loihi import compat as _  # noqa: F401  (installs the shim)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    data = np.zeros((2, 6))
    data[:, 0] = [1.0, 0.0]
    src = Source(data=data)
    dense = Dense(weights=np.array([[2.0, 0.0], [0.0, 2.0]]), num_message_bits=24)
    lif = LIF(shape=(2,), du=1.0, dv=0.0, vth=1.0)
    sink = Sink(shape=(2,), buffer=6)
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    lif.s_out.connect(sink.a_in)
    try:
        sink.run(condition=RunSteps(num_steps=6), run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
        spikes = sink.data.get()
    finally:
        sink.stop()
    # Input at step 0 reaches the LIF one step later (the Dense hop): one spike, neuron 0, step 1.
    assert spikes.tolist() == [[0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]]
