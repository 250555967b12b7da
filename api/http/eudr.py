"""EUDR and traceability exports of a lot under ``/api/v1/lots/{lot}``.

``GET …/eudr``          readiness and the due-diligence data set (JSON; no coordinates)
``GET …/eudr.geojson``  the contributing plots' geometry for the EU information system:
                        only with the server's read token (``Authorization: Bearer …``),
                        like ``plot.map`` payloads — it is the farms' exact location
``GET …/trace.csv``     one row per custody event, upstream and downstream
``GET …/trace.xlsx``    the same as a workbook

Registered by the app factory (``api.http.app.all_blueprints``).
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from api.http.base import Blueprint, problems
from api.http.context import may_read_plots, store
from api.http.errors import ReadTokenRequired

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
        """EUDR readiness of a lot and its due-diligence data set."""
        from graph.eudr import lot_eudr

        return lot_eudr(store(), lot).to_dict()


@blp.route("/<lot>/eudr.geojson")
class EudrGeojson(MethodView):
    @blp.doc(
        security=[{"readToken": []}],
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
        """The contributing plots' geolocation, for the operator filing the statement."""
        from graph.eudr import dumps, feature_collection, lot_eudr

        if not may_read_plots():
            raise ReadTokenRequired(
                "plot geometry is returned only with this server's read token"
                " (Authorization: Bearer …)",
            )
        report = lot_eudr(store(), lot)
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
        """The lot's traceability spreadsheet as CSV."""
        from graph.export_trace import lot_trace_rows, to_csv

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
        """The lot's traceability spreadsheet as an Excel workbook."""
        from graph.export_trace import lot_trace_rows, to_xlsx

        rows = lot_trace_rows(store(), lot)
        return _download(to_xlsx(rows, lot), XLSX, _filename(lot, "-trace.xlsx"))
