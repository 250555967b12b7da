"""``trazo demo``: a believable supply chain, loaded into a local ledger and served."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from api.cli.core import fail, noting

BATCH = 500


def _keys(folder: Path, chain: Any) -> None:
    """Write the demo's seed-derived operator and log keys, or check the ones there match."""
    from ledger.envelope import keyid_of
    from ledger.keys import load_public_key, write_keypair

    for name, key in (("operator", chain.operator_key), ("log", chain.log_key)):
        pub = folder / f"{name}.pub"
        if pub.exists():
            if keyid_of(load_public_key(pub)) != keyid_of(key.public_key()):
                fail(f"{pub} is not the demo's {name} key: use another --dir")
            continue
        write_keypair(folder, name, key)


def load_demo(folder: Path, seed: int) -> tuple[str, Any]:
    """Create (or reuse) the demo ledger in ``folder``; return its URL and the chain."""
    from fixtures.generator import demo_chain
    from ledger.append import append_batch
    from ledger.checkpoint import NoteSigner
    from ledger.log import default_origin
    from ledger.store import Store

    folder.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{folder / 'ledger.db'}"
    chain = demo_chain(seed)
    _keys(folder / "keys", chain)
    store = Store(db)
    store.migrate()
    events = list(chain.events)
    have = store.size()
    if have == 0:
        origin = os.environ.get("TRAZO_LOG_ORIGIN") or default_origin(chain.facts.operator)
        signer = NoteSigner(origin, chain.log_key)
        with click.progressbar(
            length=len(events),
            label="loading the demo supply chain",
            file=sys.stderr,
            show_pos=True,
        ) as bar:
            for start in range(0, len(events), BATCH):
                append_batch(
                    store, events[start : start + BATCH], log_signer=signer, genesis=start == 0
                )
                bar.update(min(BATCH, len(events) - start))
    else:
        click.echo(f"reusing {db}: {have} events", err=True)
    store.dispose()
    return db, chain


@click.command()
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--dir",
    "folder",
    default="trazo-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the demo ledger and keys live.",
)
@click.option("--seed", default=1, show_default=True, help="The demo generator's seed.")
@click.option("--no-serve", is_flag=True, help="Load the demo ledger, print the guide, exit.")
def demo(port: int, host: str, folder: str, seed: int, no_serve: bool) -> None:
    """Load a demo supply chain (coffee and cacao from three countries) and serve it.

    Creates a SQLite ledger in --dir (or reuses it), loads the demo chain when it is
    empty, starts the HTTP API and prints what to open and which commands to try.
    Ctrl-C stops the server. The demo's keys are derived from --seed: never use them
    for real data.
    """
    with noting("could not load the demo"):
        db, chain = load_demo(Path(folder), seed)
    token = os.environ.setdefault("TRAZO_READ_TOKEN", DEMO_OPERATOR_TOKEN)
    _guide(db, Path(folder), chain.facts, host, port, token)
    if no_serve:
        return
    from api.cli.serve import serve

    click.get_current_context().invoke(
        serve,
        db=db,
        keys_dir=str(Path(folder) / "keys"),
        host=host,
        port=port,
        workers=2,
        timeout=120,
        access_log=False,
    )


DEMO_OPERATOR_TOKEN = "trazo-demo-operator"
"""The demo server's operator token (unless TRAZO_READ_TOKEN is set): reads everything."""


def _guide(db: str, folder: Path, facts: Any, host: str, port: int, token: str) -> None:
    base = f"http://{host}:{port}"
    keys = folder / "keys"
    single, blended = facts.single_origin_bag, facts.blended_bag
    lines = [
        "",
        click.style("trazo demo: a coffee and cacao supply chain from small producers", bold=True),
        f"  ledger  {db}   keys  {keys}/",
        f"  SPOs    {', '.join(facts.spos)}",
        "",
        click.style("Open", bold=True),
        f"  the API               {base}/api/v1/  (its OpenAPI: {base}/api/v1/openapi.json)",
        f"  a 100% SPP bag        {base}/p/{single}",
        f"     its origin (JSON)  {base}/api/v1/lots/{single}/origin",
        f"     its proof bundle   {base}/api/v1/lots/{single}/bundle",
        f"  a blended bag         {base}/p/{blended}",
        f"     its origin (JSON)  {base}/api/v1/lots/{blended}/origin",
        f"  the capture console   {base}/console/  (a key made in the browser, signing there)",
        "",
        click.style("Private: the operator's token reads everything", bold=True),
        f'  curl -H "Authorization: Bearer {token}" \\',
        f"    '{base}/audit/{facts.overselling_trader}/mass-balance"
        "?product=coffee&scheme=SPP&period=2026'",
        f"    (and its fair prices: '{base}/audit/{facts.overselling_trader}/fair-prices"
        "?period=2026')",
        f"  without it, {base}/api/v1/events lists only public master data",
        "",
        click.style("Try", bold=True),
        f"  trazo origin {blended} --db {db}",
        f"  trazo bundle {blended} --db {db} -o bag.json",
        f"  trazo verify bag.json --log-key {keys}/log.pub",
        f"  trazo mass-balance --all --period 2026 --db {db}",
        f"  trazo fair-prices --all --period 2026 --db {db}",
        f"  trazo audit --db {db} --keys {keys}",
        f"  trazo epcis export {blended} --db {db} --base-url {base} -o journey.jsonld",
        "",
    ]
    click.echo("\n".join(lines))


COMMANDS = (demo,)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
