"""``python -m benchmarks [NAME…]``: run the benchmarks of this package (default: all).

A benchmark is a module here with a ``main(argv: list[str]) -> int`` function.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import benchmarks


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                  if not m.name.startswith("_"))


def run(names: list[str]) -> int:
    status = 0
    for name in names or available():
        module = importlib.import_module(f"benchmarks.{name}")
        if not hasattr(module, "main"):
            continue
        print(f"== benchmarks.{name}", flush=True)
        status |= module.main([])
    return status


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
