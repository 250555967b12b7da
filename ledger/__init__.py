"""trazo's domain core: envelopes, signatures, event vocabulary, custody rules, storage.

Imports nothing from ``graph`` or ``api``; never imports Flask.
"""

from __future__ import annotations

__version__ = "0.1.0"
