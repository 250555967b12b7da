"""What views (JSON, pages) are given: the store and the log signer.

One small module, imported by views and by the app factory alike, so that no view needs
the factory (no import cycle).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import current_app

from ledger.store import Store

STORE = "trazo.store"


def store() -> Store:
    found: Store = current_app.extensions[STORE]
    return found


def log_signer() -> Any:
    """The note signer for checkpoints, loaded once from ``TRAZO_KEYS/log.key``; or None."""
    key = "trazo.log_signer"
    if key not in current_app.extensions:
        from ledger.log import load_signer, resolve_origin

        keys_dir = Path(current_app.config["TRAZO_KEYS"])
        signer = None
        if (keys_dir / "log.key").exists():
            origin = resolve_origin(store(), current_app.config.get("TRAZO_LOG_ORIGIN"))
            signer = load_signer(keys_dir, origin)
        else:
            logging.getLogger("trazo").warning(
                "no log key at %s: appends are not checkpointed", keys_dir / "log.key"
            )
        current_app.extensions[key] = signer
    return current_app.extensions[key]
