"""Public product pages: ``/p/<lot>`` in HTML, JSON-LD, QR codes and the proof bundle.

A plain Flask blueprint, not part of the JSON API (no OpenAPI entry, no problem+json):
what a consumer who scans a bag sees, in Spanish, English, Portuguese or French
(``?lang=`` or ``Accept-Language``). Views only negotiate, ask ``graph.page`` for the
model, render it with ``api.pages.publish`` and wrap the result in a response.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from api.http.context import log_signer, store
from api.pages import apidocs, audit, publish
from graph.bundle import build_bundle
from graph.page import is_published, page_model
from ledger.errors import NotCheckpointed, NotFound

bp = Blueprint("pages", __name__)
audit_bp = audit.bp
apidocs_bp = apidocs.bp


@bp.get("/")
def root() -> Response:
    """The server's front door: the same index of links as ``/api/v1/``."""
    from api.http.index import index

    return Response(json.dumps(index(), indent=1), mimetype="application/json")


def _language() -> str:
    return publish.negotiate(request.args.get("lang"), request.accept_languages)


def _links(lot: str) -> publish.Links:
    base = current_app.config.get("TRAZO_PUBLIC_URL") or request.url_root
    return publish.Links.served(str(base), lot)


def _log_key() -> str | None:
    signer = log_signer()
    return signer.verifier_key() if signer is not None else None


@bp.errorhandler(NotFound)
@bp.errorhandler(NotCheckpointed)
def _no_page(error: NotFound | NotCheckpointed) -> Response:
    """A lot with no page (unknown, not sold to consumers, not yet checkpointed): the
    consumer's 404 page, in their language, never a problem document."""
    return _not_found(str((request.view_args or {}).get("lot", "")))


def _not_found(lot: str) -> Response:
    lang = _language()
    html = publish.render_not_found(lot, lang, _links(lot).languages)
    return _html(html, lang, 404)


def _html(text: str, lang: str, status: int = 200) -> Response:
    response = Response(text, status=status, mimetype="text/html")
    response.headers["Content-Language"] = lang
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;"
        " script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'"
    )
    response.vary.add("Accept-Language")
    return response


def _witnesses() -> tuple[str, ...]:
    """The cosigner keys of ``TRAZO_WITNESSES`` (``URL=VKEY …``), for the in-browser check."""
    return publish.witness_keys(current_app.config.get("TRAZO_WITNESSES") or ())


@bp.get("/p/<lot>")
def page(lot: str) -> Response:
    lang = _language()
    locale = publish.number_locale(lang, request.accept_languages)
    model = page_model(store(), lot, log_key=_log_key())
    html = publish.render_page(model, lang, _links(lot), locale, _witnesses())
    return _html(html, lang)


@bp.get("/p/<lot>.jsonld")
def product_jsonld(lot: str) -> Response:
    model = page_model(store(), lot)
    return Response(publish.jsonld_text(model, _links(lot)), mimetype="application/ld+json")


@bp.get("/p/<lot>/qr.svg")
def qr_svg(lot: str) -> Response:
    if not _published(lot):
        return _not_found(lot)
    return Response(publish.qr_svg(_links(lot).page), mimetype="image/svg+xml")


@bp.get("/p/<lot>/qr.png")
def qr_png(lot: str) -> Response:
    if not _published(lot):
        return _not_found(lot)
    return Response(publish.qr_png(_links(lot).page), mimetype="image/png")


@bp.get("/p/<lot>/bundle.json")
def bundle(lot: str) -> Response:
    if not _published(lot):
        return _not_found(lot)
    document = build_bundle(store(), lot)
    response = Response(json.dumps(document, indent=1) + "\n", mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{publish.bundle_filename(lot)}"'
    )
    return response


def _published(lot: str) -> bool:
    return is_published(store(), lot)
