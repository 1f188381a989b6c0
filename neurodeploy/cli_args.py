"""Options that take several values after one flag: ``--size 64 64``, ``--image a.png b.png``.

click takes one value per flag occurrence (``multiple=True``) or a fixed count per flag;
it has no "one or more values" form. Users type the form the help shows, so before click
parses, :func:`spread_values` rewrites every ``--flag v1 v2 ...`` of a list option into
``--flag v1 --flag v2 ...``, which ``multiple=True`` accepts. The repeated form
(``--image a.png --image b.png``) passes through unchanged, so it keeps working.

A list option takes the tokens after it up to the next one that starts with ``-``
(``--`` stops it too), at most :data:`VALUES_PER_FLAG` of them where a count is fixed:
``--size`` takes two, so ``export --size 64 64 CHECKPOINT`` still finds its argument.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from neurodeploy.errors import NeurodeployError

# Options with a fixed number of values per flag (by click parameter name).
VALUES_PER_FLAG = {"size": 2}


def spread_values(args: Sequence[str], caps: dict[str, int | None]) -> list[str]:
    """``args`` with each ``FLAG v1 v2 ...`` of a flag in ``caps`` spread to ``FLAG v1 FLAG v2``.

    Args:
        args: the command line after the program name.
        caps: flag (e.g. ``--image``) -> most values one flag takes (None: no limit).
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        out.append(token)
        i += 1
        if token == "--":  # everything after it is positional
            out.extend(args[i:])
            break
        if token not in caps or i >= len(args):
            continue
        cap = caps[token]
        taken = 0
        while i < len(args) and not args[i].startswith("-") and (cap is None or taken < cap):
            if taken:
                out.append(token)
            out.append(args[i])
            taken += 1
            i += 1
    return out


def list_option_caps(params: Iterable) -> dict[str, int | None]:
    """Flag -> value cap for the click parameters of one command that take lists."""
    caps: dict[str, int | None] = {}
    for p in params:
        if getattr(p, "param_type_name", "") == "option" and getattr(p, "multiple", False):
            for flag in p.opts:
                if flag.startswith("--"):
                    caps[flag] = VALUES_PER_FLAG.get(p.name)
    return caps


def size_pair(values: Sequence[int] | None, default: tuple[int, int] | None = None) -> tuple[int, int] | None:
    """The ``--size H W`` values as ``(H, W)`` in pixels; ``default`` when not given."""
    if not values:
        return default
    if len(values) != 2 or min(values) < 1:
        given = " ".join(str(v) for v in values)
        raise NeurodeployError(f"--size takes two positive numbers, H and W (e.g. --size 64 64), got '{given}'")
    return int(values[0]), int(values[1])
