"""``trazo checkpoint``, ``trazo log verify-*`` and ``trazo witness``: the log, checked offline."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import click

from api.cli.client import api_url
from api.cli.core import (
    db_option,
    fail,
    noting,
    open_store,
    output_option,
    witness_policy,
    witness_policy_options,
)

LOG_KEY_HELP = "The log public key to trust: log.pub (PEM) or a verifier key string."


def _load_key(spec: str) -> Any:
    from ledger.log import LogKey

    return LogKey.load(spec)


def _read_proof(path: str, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text("utf-8"))
        hashes = [bytes.fromhex(h) for h in data["hashes"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        fail(f"{path}: not a {kind} proof as the API serves it ({e})")
    return dict(data, hashes=hashes)


@click.command()
@db_option
@click.option("--size", type=int, help="The checkpoint at this size instead of the latest.")
def checkpoint(db: str, size: int | None) -> None:
    """Print the latest signed checkpoint of the log (a signed note), with the witnesses'
    cosignatures it has collected, as the server serves it."""
    from ledger.log import cosigned

    found = cosigned(open_store(db), size)
    if found is None:
        fail("no checkpoint has been signed" + (f" at size {size}" if size else ""))
    click.echo(found[1], nl=False)


@click.group()
def log() -> None:
    """Verify Merkle log proofs offline against a signed checkpoint."""


@log.command("proof")
@click.argument("event_id")
@db_option
@output_option("Where to write it (default: standard output); name it EVENT.tlog-proof.")
def proof(event_id: str, db: str, output: str) -> None:
    """Print an event's inclusion in the log as a C2SP tlog-proof.

    The proof holds the event's index, its inclusion path and the latest checkpoint with
    the witnesses' cosignatures: anyone with the log's key, the witnesses' keys and the
    event's envelope can check it offline, with any tlog-proof verifier.
    """
    from ledger.log import tlog_proof

    text = tlog_proof(open_store(db), event_id)
    with click.open_file(output, "w") as out:
        out.write(text)


@log.command("tiles")
@click.argument("folder", type=click.Path(file_okay=False))
@db_option
def tiles(folder: str, db: str) -> None:
    """Write the log's read side as static C2SP tlog-tiles files into FOLDER.

    FOLDER/checkpoint and FOLDER/tile/…: every full tile and the partial tiles of every
    checkpointed size, byte for byte what `trazo serve` answers under /log/. Copy FOLDER
    to any web host or object store to mirror the log; run it again to bring the copy up
    to date (only new tiles are written, the checkpoint last).
    """
    from ledger.log import write_tiles

    store = open_store(db)
    with noting(f"could not write the tiles into {folder}"):
        count = write_tiles(store, Path(folder))
    if count == 0:
        fail("the log has no checkpoint yet: nothing to write")
    click.echo(f"{count} file(s) written into {folder}")


@log.command("verify-inclusion")
@click.argument("envelope_file", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--proof",
    "proof_file",
    required=True,
    type=click.Path(exists=True),
    help='Inclusion proof JSON: {"index", "size", "hashes"}.',
)
@click.option(
    "--checkpoint",
    "checkpoint_file",
    required=True,
    type=click.Path(exists=True),
    help="The signed checkpoint the proof is for.",
)
@click.option("--log-key", required=True, help=LOG_KEY_HELP)
def verify_inclusion(
    envelope_file: str, proof_file: str, checkpoint_file: str, log_key: str
) -> None:
    """Prove an event (an envelope file) is in the log a checkpoint commits to."""
    from ledger.envelope import Envelope, leaf_input
    from ledger.merkle import leaf_hash
    from ledger.merkle import verify_inclusion as check

    key = _load_key(log_key)
    with noting("inclusion NOT proved"):
        cp = key.open(Path(checkpoint_file).read_bytes())
        envelope = Envelope.from_json(Path(envelope_file).read_bytes())
        proof = _read_proof(proof_file, "inclusion")
        if proof["size"] != cp.size:
            fail(f"the proof is for a tree of {proof['size']}, the checkpoint has {cp.size}")
        check(
            leaf_hash(leaf_input(envelope.payload)),
            proof["index"],
            cp.size,
            proof["hashes"],
            cp.root,
        )
    click.secho(
        f"OK: event {envelope.id} is leaf {proof['index']} of {cp.origin} at size {cp.size}",
        fg="green",
    )


@log.command("verify-consistency")
@click.argument("old_checkpoint", type=click.Path(dir_okay=False, exists=True))
@click.argument("new_checkpoint", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--proof",
    "proof_file",
    required=True,
    type=click.Path(exists=True),
    help='Consistency proof JSON: {"from", "to", "hashes"}.',
)
@click.option("--log-key", required=True, help=LOG_KEY_HELP)
def verify_consistency(
    old_checkpoint: str, new_checkpoint: str, proof_file: str, log_key: str
) -> None:
    """Prove the log at NEW_CHECKPOINT only appended to the log at OLD_CHECKPOINT."""
    from ledger.merkle import verify_consistency as check

    key = _load_key(log_key)
    with noting("consistency NOT proved"):
        old = key.open(Path(old_checkpoint).read_bytes())
        new = key.open(Path(new_checkpoint).read_bytes())
        if old.origin != new.origin:
            fail(f"checkpoints of two logs: {old.origin!r} and {new.origin!r}")
        proof = _read_proof(proof_file, "consistency")
        if (proof["from"], proof["to"]) != (old.size, new.size):
            fail(
                f"the proof is from {proof['from']} to {proof['to']}; the checkpoints"
                f" are at {old.size} and {new.size}"
            )
        check(old.size, new.size, proof["hashes"], old.root, new.root)
    click.secho(f"OK: {new.origin} at size {new.size} extends size {old.size}", fg="green")


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as e:
        fail(f"GET {url}: HTTP {e.code}: {e.read()[:500].decode('utf-8', 'replace')}")
    except (urllib.error.URLError, OSError) as e:
        fail(f"GET {url}: {e}")


@click.group(invoke_without_command=True)
@click.option("--server", help="The ledger's base URL, e.g. http://host:8000.")
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False),
    help="Where the last checkpoint seen is kept between runs.",
)
@click.option("--log-key", help=LOG_KEY_HELP)
@witness_policy_options
@click.pass_context
def witness(
    ctx: click.Context,
    server: str | None,
    state_file: str | None,
    log_key: str | None,
    witnesses: tuple[str, ...],
    quorum: int | None,
) -> None:
    """Watch a ledger: check its latest checkpoint extends the last one seen, then keep it.

    Run it from cron (--server, --state and --log-key). Exit status 1 means the log could
    not prove it only appended since the last run (a rewritten history or a split view),
    and the state is kept. `trazo witness serve` runs a cosigning witness instead.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not (server and state_file and log_key):
        fail("give --server, --state and --log-key (or run `trazo witness serve`)", 2)
    _poll(server, state_file, log_key, witness_policy(witnesses, quorum))


@witness.command("serve")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The witness's signing key (`trazo keygen`).",
)
@click.option(
    "--name",
    required=True,
    help="The witness's name: a schema-less URL such as witness.coop.example/w1.",
)
@click.option(
    "--log",
    "logs",
    multiple=True,
    required=True,
    help="ORIGIN=KEY: a log to witness and its key (log.pub or a verifier key); repeatable.",
)
@click.option(
    "--state",
    "state_file",
    default="witness.db",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The latest cosigned checkpoint of each log (SQLite; keep it: it is the history).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
def witness_serve(
    key_file: str, name: str, logs: tuple[str, ...], state_file: str, host: str, port: int
) -> None:
    """Run a witness (C2SP tlog-witness): cosign checkpoints only along one history.

    Serves POST /add-checkpoint. It keeps, per log, the latest checkpoint it cosigned
    (in --state, committed before it answers) and never cosigns a fork or a rollback.
    Prints its verifier key: give it to the ledger (TRAZO_WITNESSES) and to verifiers
    (`trazo verify --witness`).
    """
    from api.cli.serve import gunicorn_server
    from api.http.witness import create_witness_app
    from ledger.cosignature import Cosigner
    from ledger.keys import load_private_key
    from ledger.witness import Witness, WitnessState

    trusted = {}
    for spec in logs:
        origin, sep, key = spec.partition("=")
        if not sep or not origin or not key:
            fail(f"--log {spec!r}: give ORIGIN=KEY", 2)
        with noting(f"--log {origin}: not a log key"):
            trusted[origin] = _load_key(key).verifier(origin)
    cosigner = Cosigner(name, load_private_key(Path(key_file)))
    state = WitnessState(Path(state_file))
    click.echo(f"witness key {cosigner.key.verifier_key()}")

    def announce(arbiter: Any) -> None:
        for listener in arbiter.LISTENERS:
            bound_host, bound_port = listener.sock.getsockname()[:2]
            click.echo(f"trazo witness {name} at http://{bound_host}:{bound_port}/")
        sys.stdout.flush()

    server = gunicorn_server(
        lambda: create_witness_app(Witness(cosigner, trusted, state)),
        {
            "bind": f"{host}:{port}",
            "workers": 2,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "trazo-witness",
            "control_socket_disable": True,
            "when_ready": announce,
        },
    )
    server.run()


@witness.command("push")
@db_option
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    required=True,
    envvar="TRAZO_WITNESSES",
    help="URL=VKEY: a witness's submission prefix and verifier key; repeatable"
    " (TRAZO_WITNESSES: several, separated by spaces).",
)
@click.option(
    "--every",
    type=click.IntRange(1),
    help="Keep running: push again every this many seconds (without it: push once).",
)
def witness_push(db: str, witnesses: tuple[str, ...], every: int | None) -> None:
    """Offer the latest checkpoint to each witness and keep their cosignatures.

    Runs beside `trazo serve` (appends never wait for a witness): each witness gets the
    checkpoint with a consistency proof from the size it last cosigned; a cosignature is
    checked before it is kept, and the log serves it with the checkpoint and puts it in
    bundles. A witness that is down is tried again on the next round.
    """
    import time

    from api.cli.client import post_text
    from ledger.outbox import Unreachable
    from ledger.witnessing import WitnessEndpoint, push

    specs = [part for spec in witnesses for part in spec.split()]
    with noting("not a witness"):
        endpoints = [WitnessEndpoint.parse(spec) for spec in specs]
    store = open_store(db, writes=True)
    while True:
        for endpoint in endpoints:
            try:
                outcome = push(store, endpoint, post_text)
            except Unreachable as e:
                outcome = f"unreachable: {e}"
            except Exception as e:  # one witness's nonsense stops no other, nor the loop
                outcome = f"failed: {type(e).__name__}: {e}"
            click.echo(f"{endpoint.key.name}: {outcome}")
        if every is None:
            return
        sys.stdout.flush()
        time.sleep(every)


def _poll(server: str, state_file: str, log_key: str, policy: Any) -> None:
    from ledger.merkle import verify_consistency as check

    key = _load_key(log_key)
    note = _get(api_url(server, "log/checkpoint")).decode("utf-8")
    with noting("the served checkpoint does not verify with the log key"):
        new = key.open(note)
    if policy.quorum:
        cosigned, problem = policy.check(note)
        if problem is not None:
            fail(f"the served checkpoint: {problem}")
        click.echo(f"cosigned by {', '.join(cosigned)}", err=True)
    state = Path(state_file)
    if state.exists():
        with noting(f"{state_file} holds no valid checkpoint"):
            old = key.open(state.read_text("utf-8"))
        with noting(f"the log at {new.size} is NOT consistent with the one seen at {old.size}"):
            if new.origin != old.origin:
                fail(f"the server now serves log {new.origin!r}, not {old.origin!r}")
            if new.size < old.size:
                fail(f"the log shrank from {old.size} to {new.size}: history was cut")
            if new.size == old.size:
                if new.root != old.root:
                    fail(f"two different roots at size {new.size}: a split view")
            else:
                query = urllib.parse.urlencode({"from": old.size, "to": new.size})
                proof = json.loads(_get(api_url(server, "log/proof/consistency") + f"?{query}"))
                check(
                    old.size,
                    new.size,
                    [bytes.fromhex(h) for h in proof["hashes"]],
                    old.root,
                    new.root,
                )
        click.echo(f"consistent: {old.size} → {new.size}", err=True)
    tmp = state.with_name(state.name + ".tmp")
    tmp.write_text(note, "utf-8")
    tmp.replace(state)
    click.secho(f"OK: {new.origin} at size {new.size}", fg="green", file=sys.stdout)


COMMANDS = (checkpoint, log, witness)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
