"""``trazo publish``: a lot's public page, JSON-LD, QR codes and proof bundle as static files."""

from __future__ import annotations

import os
from pathlib import Path

import click

from api.cli.core import db_option, fail, keys_option, log_signer, open_store, origin_option


@click.command()
@click.argument("lot")
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, writable=True),
    help="Folder to write the files into (created if missing).",
)
@db_option
@keys_option
@origin_option
@click.option(
    "--public-url",
    envvar="TRAZO_PUBLIC_URL",
    help="Base URL the QR code points under (<URL>/p/LOT); default $TRAZO_PUBLIC_URL.",
)
@click.option(
    "--page-url",
    help="The exact URL where you will host these files (the QR"
    " code points at it); default <public URL>/p/LOT/, so"
    " that the files' relative links resolve.",
)
@click.option(
    "--lang",
    "default_lang",
    type=click.Choice(["es", "en", "pt", "fr"]),
    default="en",
    show_default=True,
    help="The language of index.html.",
)
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    envvar="TRAZO_WITNESSES",
    help="VKEY (or URL=VKEY) of a witness whose cosignature the page's in-browser check"
    " counts on the checkpoint; repeatable.",
)
def publish(
    lot: str,
    out_dir: str,
    db: str,
    keys_dir: str,
    origin: str | None,
    public_url: str | None,
    page_url: str | None,
    default_lang: str,
    witnesses: tuple[str, ...],
) -> None:
    """Write LOT's public page as static files a brand can host anywhere.

    Writes index.html and es/en/pt/fr.html (the page in each language), product.jsonld
    (schema.org Product), qr.svg and qr.png (pointing at the page), bundle.json (the
    proof bundle anyone can check with `trazo verify`) and js/ (the page's in-browser check
    of that bundle; serve the folder over HTTP(S): browsers run no modules from file://).
    Nothing in them loads from another host. Numbers are written for a reader of each
    language's default region (a bare es: Latin American Spanish).
    """
    from api.pages import publish as pub
    from graph.bundle import build_bundle
    from graph.page import page_model

    if not page_url and not public_url:
        fail(
            "give --page-url or --public-url (or set TRAZO_PUBLIC_URL): the QR code"
            " must point at where the page will be"
        )
    url = page_url or pub.page_url(str(public_url), lot) + "/"
    store = open_store(db)
    signer = log_signer(store, keys_dir, origin)
    model = page_model(store, lot, log_key=signer.verifier_key() if signer else None)
    bundle = build_bundle(store, lot)
    written = pub.publish(
        model,
        pub.Links.static(url, lot),
        bundle,
        Path(out_dir),
        default_lang=default_lang,
        witnesses=pub.witness_keys(witnesses),
    )
    for path in written:
        click.echo(os.fspath(path))
    click.echo(
        f"{lot}: {model.certified_percent}% certified small-producer origin;"
        f" the QR code points at {url}",
        err=True,
    )


COMMANDS = (publish,)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
