"""``python -m benchmarks [--quick] [NAME…]``: run the benchmarks of this package (default: all).

A benchmark is a module here with a ``main(argv: list[str]) -> int`` function. ``--quick``
is passed on to each (a smoke run of the whole suite in a few minutes); without it each
runs its fuller default. Every benchmark's figures are merged into
``benchmarks/results/latest.json`` (see ``benchmarks._common``); for a module that does not
write its own, its printed output is stored there.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import pkgutil
import sys
from typing import Any, TextIO

import benchmarks
from benchmarks import _common

QUICK_FALLBACK = {"mass_balance": ["--events", "5000"]}
"""Quick arguments for a module whose ``main`` has no ``--quick`` of its own."""


def available() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_")
    )


class _Tee(io.TextIOBase):
    def __init__(self, out: TextIO) -> None:
        self.out, self.buffer = out, io.StringIO()

    def write(self, s: str) -> int:
        self.buffer.write(s)
        return self.out.write(s)

    def flush(self) -> None:
        self.out.flush()


def run(names: list[str], quick: bool = False) -> int:
    status = 0
    for name in names or available():
        module: Any = importlib.import_module(f"benchmarks.{name}")
        if not hasattr(module, "main"):
            continue
        argv = QUICK_FALLBACK.get(name, ["--quick"]) if quick else []
        print(f"== benchmarks.{name} {' '.join(argv)}".rstrip(), flush=True)
        tee = _Tee(sys.stdout)
        with contextlib.redirect_stdout(tee):  # type: ignore[type-var]
            code = module.main(argv)
        status |= code
        if name not in _common.written:
            _common.write_result(
                name, {"output": tee.buffer.getvalue().splitlines(), "exit_status": code}, argv
            )
    return status


def main(argv: list[str]) -> int:
    if {"-h", "--help"} & set(argv):
        print("python -m benchmarks [--quick] [NAME…]: run the benchmarks (default: all)")
        print(f"benchmarks: {', '.join(available())}")
        return 0
    quick = "--quick" in argv
    names = [a for a in argv if a != "--quick"]
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(
            f"no benchmark named {', '.join(unknown)}; known: {', '.join(available())}",
            file=sys.stderr,
        )
        return 2
    return run(names, quick)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
