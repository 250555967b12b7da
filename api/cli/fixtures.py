"""``trazo generate``: a seeded synthetic supply chain of signed envelopes, as JSON Lines."""

from __future__ import annotations

import time

import click

from api.cli.core import fail

PROGRESS_EVERY = 10_000


@click.command("generate")
@click.option(
    "--events",
    "-n",
    "count",
    type=click.IntRange(min=1),
    required=True,
    help="How many envelopes to write (10k to 1M+ for benchmarks).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    required=True,
    help="JSON Lines file to write, one envelope per line (- for stdout).",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Same seed, same envelopes, byte for byte; keys derive from it.",
)
def generate_command(count: int, output: str, seed: int) -> None:
    """Write a synthetic supply chain of exactly EVENTS signed envelopes.

    The demo chain (SPOs, certifier, exporters, importer, roasters, brand, estate, an
    overselling trader) grown by more SPOs, members, harvests and trades. Every event is
    valid in file order, so `trazo append FILE` (or append_batch in batches) accepts
    it on an empty ledger; times lie in 2025-09 … 2026-09. Progress goes to stderr.
    """
    from fixtures.generator import generate

    started = time.monotonic()
    written = 0
    try:
        with click.open_file(output, "w", encoding="utf-8") as out:
            for envelope in generate(count, seed):
                out.write(envelope.to_json())
                out.write("\n")
                written += 1
                if written % PROGRESS_EVERY == 0:
                    _progress(written, count, started)
    except OSError as e:
        fail(f"cannot write {output}: {e}")
    _progress(written, count, started)
    click.echo(err=True)


def _progress(written: int, total: int, started: float) -> None:
    elapsed = max(time.monotonic() - started, 1e-9)
    click.echo(
        f"\r{written:,}/{total:,} events  {written / elapsed:,.0f}/s  {elapsed:.1f}s",
        nl=False,
        err=True,
    )


COMMANDS = (generate_command,)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
