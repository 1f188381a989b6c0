"""The two HDF5 reads of a NIR file that run in a guarded child process (:mod:`neurodeploy.ir.nirfile`).

Kept apart from :mod:`neurodeploy.ir` so that a new interpreter can import them without the
rest of neurodeploy (torch among it): in a process that has loaded Ray, the guarded reader runs
them in a new interpreter instead of a forked child (``nirfile._ray_loaded``).
"""

from __future__ import annotations

from pathlib import Path

from neurodeploy.errors import GraphError


def read_hdf5(path: Path) -> dict:
    """The file's ``node`` group as NIR's dict (every array read)."""
    import h5py
    from nir.serialization import hdf2dict

    with h5py.File(path, "r") as f:
        return hdf2dict(f["node"])


def declared_arrays(path: Path) -> int:
    """Bytes of every array the file declares, from HDF5 metadata alone (no data is read);
    refuses a file that is not a NIR graph, or whose arrays cannot fit in memory, before any
    array is read."""
    import h5py

    with h5py.File(path, "r") as f:
        if not isinstance(f.get("node"), h5py.Group) or "nodes" not in f["node"]:
            top = ", ".join(sorted(f.keys())[:5]) or "nothing"
            raise GraphError(f"an HDF5 file, but not a NIR graph (no 'node' group with 'nodes'; it holds: {top}); "
                             "pass a .nir file written by nir.write or a NIR writer")
        return _checked_bytes(path, f)


def _checked_bytes(path: Path, f) -> int:
    """Bytes of every dataset the open HDF5 file ``f`` declares (metadata only); refuses arrays that
    cannot fit in memory (:func:`neurodeploy.memory.check_arrays`)."""
    import h5py

    from neurodeploy.memory import check_arrays

    arrays: list[tuple[str, tuple[int, ...], int]] = []
    f.visititems(lambda name, obj: arrays.append((name, obj.shape, obj.size * obj.dtype.itemsize))
                 if isinstance(obj, h5py.Dataset) and obj.shape is not None else None)
    total = sum(a[2] for a in arrays)
    if arrays:
        check_arrays(path, total, max(arrays, key=lambda a: a[2]))
    return total


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: Path) -> bool:
    """Whether ``path`` starts with HDF5's signature (a ``.nir`` graph or a lava-dl netx file alike)."""
    try:
        with open(path, "rb") as f:
            return f.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def declared_netx_arrays(path: Path) -> int:
    """As :func:`declared_arrays` for a lava-dl netx file (``slayer``'s ``export_hdf5``): bytes of every
    array it declares; refuses an HDF5 file without netx's ``layer`` group before any array is read."""
    import h5py

    with h5py.File(path, "r") as f:
        if not isinstance(f.get("layer"), h5py.Group):
            top = ", ".join(sorted(f.keys())[:5]) or "nothing"
            raise GraphError(f"an HDF5 file, but not a lava-dl netx network (no 'layer' group; it holds: {top}); a NIR "
                             "graph is read by its .nir name (rename it to graph.nir), a netx network is the file "
                             "slayer's export_hdf5 writes")
        return _checked_bytes(path, f)


def read_netx_hdf5(path: Path) -> dict:
    """A netx file's layers as plain data: ``{"layers": [{key: value}, ...]}`` in the order of their
    indices (``layer/0``, ``layer/1`` ...), each group's datasets by their path inside the layer
    (``weight``, ``neuron/vThMant`` ...); byte strings decoded, scalars as Python numbers."""
    import h5py
    import numpy as np

    def value(ds):
        v = ds[()]
        if isinstance(v, bytes):
            return v.decode("ascii", "replace")
        if isinstance(v, np.ndarray) and v.dtype.kind in "SO":
            flat = [x.decode("ascii", "replace") if isinstance(x, bytes) else str(x) for x in v.reshape(-1)]
            return flat[0] if len(flat) == 1 else flat
        if isinstance(v, np.generic):
            return v.item()
        return np.asarray(v)

    with h5py.File(path, "r") as f:
        group = f["layer"]
        keys = list(group.keys())
        if not all(k.isdigit() for k in keys):
            bad = next(k for k in keys if not k.isdigit())
            raise GraphError(f"netx layer group '{bad}' is not a layer index (0, 1, ...); re-export with export_hdf5")
        layers = []
        for k in sorted(keys, key=int):
            entry: dict = {"index": int(k)}
            g = group[k]
            if not isinstance(g, h5py.Group):
                raise GraphError(f"netx layer {k} is not a group; re-export with export_hdf5")
            g.visititems(lambda name, obj: entry.__setitem__(name, value(obj)) if isinstance(obj, h5py.Dataset)
                         else None)
            layers.append(entry)
    return {"layers": layers}
