"""The ``trazo`` command line: one group, its commands registered here explicitly.

Each module of this package holds a few commands (``COMMANDS``) that parse their
options, call one core function and render; ``api.cli.core`` holds the group, the shared
options and the one error handler (every error a user can make is one line).
"""

from __future__ import annotations

from api.cli import (
    capture,
    core,
    custody,
    demo,
    epcis,
    eudr,
    fair_prices,
    fixtures,
    graph,
    log,
    mass_balance,
    publish,
    serve,
    signin,
)
from api.cli.core import main

for _module in (
    core,
    capture,
    serve,
    custody,
    demo,
    epcis,
    eudr,
    fair_prices,
    fixtures,
    graph,
    log,
    mass_balance,
    publish,
    signin,
):
    for _command in _module.COMMANDS:
        main.add_command(_command)

__all__ = ["main"]
