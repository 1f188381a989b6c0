"""Makes ``tests/fixtures/`` (the graphs, cases and runners the tests share with these benchmarks)
importable as the package ``ndfixtures``, the name the tests import it by (``tests/conftest.py``
registers it the same way): ``import _shared`` once, then ``from ndfixtures import writer_cases``.

Loaded by file location, not through ``sys.path``: the lava wheels install a top-level package
named ``tests``, so ``import tests.fixtures`` would find theirs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"

if "ndfixtures" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("ndfixtures", FIXTURES / "__init__.py",
                                                   submodule_search_locations=[str(FIXTURES)])
    sys.modules["ndfixtures"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["ndfixtures"])
