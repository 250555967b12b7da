"""The custody engine is pure: the rules, the engine and the memory view import no
SQLAlchemy, no database driver and no web framework (issue 14), so the offline verifier
and anything that pre-checks events offline run the very same rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_rules_and_the_engine_import_no_database_or_web_code() -> None:
    script = (
        "import sys\n"
        "for name in ('sqlalchemy', 'psycopg', 'sqlite3', 'flask', 'networkx', 'api'):\n"
        "    sys.modules[name] = None\n"
        "import ledger.engine, ledger.view, ledger.records, ledger.certificates, ledger.prices\n"
        "from ledger.rules import RULES\n"
        "assert len(RULES) == 22, sorted(RULES)\n"
        "print('pure')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "pure", done.stderr[-2000:]
