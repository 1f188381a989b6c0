"""CLI commands for the derainers themselves: count, train, derain, evaluate.

``register(app)`` is called by :mod:`neurodeploy.cli`.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the derainer commands to the main CLI app."""
