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

    from neurodeploy.memory import check_arrays

    with h5py.File(path, "r") as f:
        if not isinstance(f.get("node"), h5py.Group) or "nodes" not in f["node"]:
            top = ", ".join(sorted(f.keys())[:5]) or "nothing"
            raise GraphError(f"an HDF5 file, but not a NIR graph (no 'node' group with 'nodes'; it holds: {top}); "
                             "pass a .nir file written by nir.write or a NIR writer")
        arrays: list[tuple[str, tuple[int, ...], int]] = []
        f.visititems(lambda name, obj: arrays.append((name, obj.shape, obj.size * obj.dtype.itemsize))
                     if isinstance(obj, h5py.Dataset) and obj.shape is not None else None)
    total = sum(a[2] for a in arrays)
    if arrays:
        check_arrays(path, total, max(arrays, key=lambda a: a[2]))
    return total
