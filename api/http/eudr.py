"""EUDR and traceability exports of a lot under ``/api/v1/lots/{lot}``.

``GET …/eudr``          readiness and the due-diligence data set (JSON; no coordinates)
``GET …/eudr.geojson``  the contributing plots' geometry for the EU information system:
                        only for a reader of every contributing SPO's data, like
                        ``plot.map`` payloads — it is the farms' exact location
``GET …/trace.csv``     one row per custody event, upstream and downstream (a reader of
                        the whole ledger only)
``GET …/trace.xlsx``    the same as a workbook

Who may read which is ``api.http.access``'s.

Registered by the app factory (``api.http.app.all_blueprints``).
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from api.http.access import readable_geometry, readable_lot
from api.http.base import Blueprint, problems
from api.http.context import store

blp = Blueprint(
    "eudr",
    __name__,
    url_prefix="/api/v1/lots",
    description="EUDR due diligence and traceability exports of a lot",
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(body: str | bytes, mimetype: str, filename: str) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _filename(lot: str, suffix: str) -> str:
    return lot.replace(":", "_") + suffix


@blp.route("/<lot>/eudr")
class Eudr(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "The EUDR report: readiness, shares without"
                " geolocation, countries, plots, suppliers,"
                " customers, upstream statement references",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        }
    )
    @problems(blp, 404)
    def get(self, lot: str) -> Any:
        """EUDR readiness of a lot and its due-diligence data set: for whoever reads the
        lot, with the customers of shipments the caller may see."""
        from graph.eudr import lot_eudr

        who = readable_lot(lot, public=False)
        seen_by = None if who.everything else who.parties
        return lot_eudr(store(), lot, seen_by=seen_by).to_dict()


@blp.route("/<lot>/eudr.geojson")
class EudrGeojson(MethodView):
    @blp.doc(
        security=[{"session": []}, {"operatorToken": []}],
        responses={
            "200": {
                "description": "GeoJSON FeatureCollection of the contributing plots (EU information"
                " system upload format)",
                "content": {"application/geo+json": {"schema": {"type": "object"}}},
            }
        },
    )
    @problems(blp, 401, 404)
    def get(self, lot: str) -> Any:
        """The contributing plots' geolocation, for the operator filing the statement: only
        for a reader of every contributing SPO's data (the SPO itself, a grant naming it,
        the operator)."""
        from graph.eudr import dumps, feature_collection, lot_eudr

        who = readable_lot(lot, public=False)
        report = lot_eudr(store(), lot, seen_by=None if who.everything else who.parties)
        readable_geometry(lot, {shares[0].share.source or "" for _, shares in report.plots()})
        return _download(
            dumps(feature_collection(report)), "application/geo+json", _filename(lot, ".geojson")
        )


@blp.route("/<lot>/trace.csv")
class TraceCsv(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "One row per custody event (CSV)",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    )
    @problems(blp, 404)
    def get(self, lot: str) -> Any:
        """The lot's traceability spreadsheet as CSV (upstream and downstream: for a
        reader of the whole ledger)."""
        from graph.export_trace import lot_trace_rows, to_csv

        readable_lot(lot, whole_ledger=True)
        rows = lot_trace_rows(store(), lot)
        return _download(to_csv(rows), "text/csv", _filename(lot, "-trace.csv"))


@blp.route("/<lot>/trace.xlsx")
class TraceXlsx(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "One row per custody event (XLSX)",
                "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    )
    @problems(blp, 404)
    def get(self, lot: str) -> Any:
        """The lot's traceability spreadsheet as an Excel workbook (for a reader of the
        whole ledger, like the CSV)."""
        from graph.export_trace import lot_trace_rows, to_xlsx

        readable_lot(lot, whole_ledger=True)
        rows = lot_trace_rows(store(), lot)
        return _download(to_xlsx(rows, lot), XLSX, _filename(lot, "-trace.xlsx"))
