"""Fair prices over HTTP: the page's price section, the public read of disclosed payments,
and the auditor's report as JSON, HTML and on the command line."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from api.cli.core import main
from tests.api.conftest import OPERATOR_TOKEN
from tests.graph.chains import COOP, EXPORTER
from tests.graph.fair import paid_chain
from tests.support import World

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def test_the_page_shows_the_disclosed_figures_each_linked_to_its_event(
    world: World, private_app: Flask
) -> None:
    fair = paid_chain(world)
    anonymous = private_app.test_client()
    page = anonymous.get(f"/p/{fair.bag}?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "What the producers were paid" in html
    assert "Coop Pangoa was paid $3.10 per lb FOB." in html
    assert "That is $0.58 above the SPP minimum price of $2.52." in html
    assert "The SPP incentive of $0.20 was paid." in html
    assert (
        "received on average $1.16 per lb for their coffee at the farm gate: 37.5% of the FOB"
        " price, premium excluded from both." in html
    )
    for event_id in (fair.payment, fair.confirmation, fair.price_list):
        assert f'href="/api/v1/events/{event_id}"' in html
    # member payments, one per family, are counted and carried by the bundle
    assert "1 member payment</a>" in html
    for event_id in (fair.payment, fair.confirmation, fair.price_list, fair.member_payment):
        # each event behind a figure is public, like the page that shows it
        assert anonymous.get(f"/api/v1/events/{event_id}").status_code == 200
    spanish = anonymous.get(f"/p/{fair.bag}?lang=es").get_data(as_text=True)
    # a bare ``es`` writes money as Latin American Spanish does (es_419), Spain's as Spain
    assert "Lo que se pagó a los productores" in spanish and "USD\xa03.10" in spanish
    assert "USD3.10" not in spanish  # a code glued to its number reads as one word
    spain = anonymous.get(f"/p/{fair.bag}?lang=es", headers={"Accept-Language": "es-ES"})
    assert "3,10\xa0US$" in spain.get_data(as_text=True)
    # the JSON API's verdict carries the same figures
    origin = anonymous.get(f"/api/v1/lots/{fair.bag}/origin").get_json()
    assert origin["prices"][0]["price"] == "3.10"


def test_an_undisclosed_payment_is_on_no_page_and_in_no_bundle(
    world: World, private_app: Flask
) -> None:
    fair = paid_chain(world, disclose=False, member_disclose=False, price="3.37")
    anonymous = private_app.test_client()
    page = anonymous.get(f"/p/{fair.bag}?lang=en").get_data()
    bundle = anonymous.get(f"/p/{fair.bag}/bundle.json").get_data()
    origin = anonymous.get(f"/api/v1/lots/{fair.bag}/origin").get_data()
    for body in (page, bundle, origin):
        assert b"3.37" not in body and b"What the producers were paid" not in body
        for event_id in (fair.payment, fair.confirmation, fair.member_payment):
            assert event_id is not None and event_id.encode() not in body
    # the payment follows its parties' read access: the buyer and the seller, not the public
    assert anonymous.get(f"/api/v1/events/{fair.payment}").status_code == 404
    operator = private_app.test_client()
    assert operator.get(f"/api/v1/events/{fair.payment}", headers=OPERATOR).status_code == 200


def test_the_auditors_report_as_json_and_html(world: World, private_app: Flask) -> None:
    fair = paid_chain(world, price="1.90")
    client: FlaskClient = private_app.test_client()
    url = f"/api/v1/parties/{EXPORTER}/fair-prices?period=2026"
    report = client.get(url, headers=OPERATOR).get_json()
    assert report["counts"]["below-minimum"] == 1 and report["purchases"] == 1
    (entry,) = report["parties"]
    (finding,) = entry["findings"]
    assert (entry["party"], finding["code"], finding["seller"]) == (
        EXPORTER,
        "below-minimum",
        COOP,
    )
    assert fair.payment in finding["events"]
    html = client.get(f"/audit/{EXPORTER}/fair-prices?period=2026", headers=OPERATOR)
    assert html.status_code == 200 and "below-minimum" in html.get_data(as_text=True)
    assert f"/api/v1/events/{fair.payment}" in html.get_data(as_text=True)
    assert client.get(url).status_code == 404  # anonymous: like a party that does not exist
    bad = client.get(f"/api/v1/parties/{EXPORTER}/fair-prices?period=20x6", headers=OPERATOR)
    assert bad.status_code == 422


def test_the_cli_lists_every_underpaid_purchase(world: World, tmp_path: Path) -> None:
    fair = paid_chain(world, price="1.90")
    runner = CliRunner()
    done = runner.invoke(
        main, ["fair-prices", "--all", "--period", "2026", "--db", world.store.url]
    )
    assert done.exit_code == 3, done.output
    assert "below-minimum" in done.output and EXPORTER in done.output
    assert str(fair.payment) in done.output
    done = runner.invoke(
        main, ["fair-prices", EXPORTER, "--period", "2026", "--json", "--db", world.store.url]
    )
    assert done.exit_code == 3 and json.loads(done.output)["counts"]["below-minimum"] == 1
    done = runner.invoke(main, ["fair-prices", "--period", "2026", "--db", world.store.url])
    assert done.exit_code == 1 and "name a PARTY" in done.output


def test_an_operator_flipping_the_disclosed_flag_discloses_no_figure(
    world: World, private_app: Flask
) -> None:
    """The operator holds the database: it marks an undisclosed payment disclosed in the
    projection. The page and the bundle still show nothing of it — disclosure is read from
    the signed bytes — and `trazo audit` names the changed row."""
    from ledger.audit import audit
    from ledger.schema import PaymentRow

    fair = paid_chain(world, confirm_disclose=False, member_disclose=False, price="3.37")
    with world.store.engine.begin() as conn:
        conn.execute(PaymentRow.__table__.update().values(disclosed=True))
    anonymous = private_app.test_client()
    for body in (
        anonymous.get(f"/p/{fair.bag}?lang=en").get_data(),
        anonymous.get(f"/p/{fair.bag}/bundle.json").get_data(),
    ):
        assert b"3.37" not in body and b"What the producers were paid" not in body
        assert str(fair.payment).encode() not in body
    findings = [str(f) for f in audit(world.store).findings]
    assert any("payments" in f for f in findings), findings


def test_trazo_origin_and_verify_print_the_figures(world: World, tmp_path: Path) -> None:
    from ledger.keys import write_keypair
    from tests.graph import chains

    fair = paid_chain(world)
    runner = CliRunner()
    done = runner.invoke(main, ["origin", str(fair.bag), "--db", world.store.url])
    assert done.exit_code == 0, done.output
    assert "paid: coop-pangoa was paid 3.10 USD/lb FOB by andes-trading (0.58 against" in (
        done.output
    )
    bundle = tmp_path / "bag.json"
    done = runner.invoke(
        main, ["bundle", str(fair.bag), "--db", world.store.url, "-o", str(bundle)]
    )
    assert done.exit_code == 0, done.output
    keys = tmp_path / "keys"
    write_keypair(keys, "log", chains.log_private())
    done = runner.invoke(main, ["verify", str(bundle), "--log-key", str(keys / "log.pub")])
    assert done.exit_code == 0, done.output
    assert "prices:      coop-pangoa was paid 3.10 USD/lb FOB" in done.output
    assert "members 1.16 at the farm gate, 37.5 % of it" in done.output
