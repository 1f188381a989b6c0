"""Host islands' ONNX files: how their inputs and outputs are named, and how one is opened.

Torch-free on purpose: the Lava island process (:mod:`.loihi.processes.functions`) opens its
file inside a Lava child process, where torch must not run; the split executor, the
emulator and the exporter (:mod:`.host_onnx`) use the same two functions.
"""

from __future__ import annotations

from pathlib import Path


def onnx_name(node: str) -> str:
    """The ONNX input/output name of a node: dots become slashes (torch's own convention), and a
    name that starts with a digit (other writers name nodes "0", "1", ...) gets ``node_`` before
    it, which the exporter needs."""
    name = node.replace(".", "/")
    return f"node_{name}" if name[:1].isdigit() else name


def onnx_session(path: str | Path, threads: int = 1):
    """An onnxruntime CPU session for one island file (``threads`` intra-op threads)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
