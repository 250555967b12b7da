"""Hand-built coffee chains with known answers, recorded as real signed envelopes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import NoteSigner
from ledger.store import Store
from tests.support import World, seeded_key

LOG_ORIGIN = "trazo/test"


def log_signer() -> NoteSigner:
    return NoteSigner(LOG_ORIGIN, seeded_key("log"))


def log_private() -> Ed25519PrivateKey:
    return seeded_key("log")


@dataclass
class Coffee:
    """Parties of a coffee chain and verbs that record real events, returning their ids."""

    world: World
    certified: set[str] = field(default_factory=set)

    @property
    def store(self) -> Store:
        return self.world.store

    def append(self, party: str, body: dict[str, Any]) -> str:
        from ledger.append import append_batch

        env = self.world.sign(party, body)
        return append_batch(self.store, [env], log_signer=log_signer()).events[0].id

    def party(self, pid: str, roles: list[str], country: str = "PE") -> None:
        from ledger.append import append_batch

        append_batch(
            self.store, [self.world.register_envelope(pid, roles, country)], log_signer=log_signer()
        )

    def certify(
        self,
        subject: str,
        cert: str,
        *,
        valid_from: str = "2025-01-01",
        valid_until: str = "2027-12-31",
        scheme: str = "SPP",
    ) -> str:
        return self.append(
            "certi-sur",
            {
                "type": "cert.issue",
                "certificate": cert,
                "subject": subject,
                "scheme": scheme,
                "products": ["coffee"],
                "valid_from": valid_from,
                "valid_until": valid_until,
            },
        )

    def enroll(self, spo: str, member: str, plot: str, area: str) -> str:
        return self.append(
            spo,
            {
                "type": "member.enroll",
                "member": member,
                "products": ["coffee"],
                "plots": [{"plot": plot, "area_ha": area}],
                "since": "2019-01-01",
            },
        )

    def harvest(
        self,
        party: str,
        lot: str,
        kg: str,
        member: str | None = None,
        plot: str | None = None,
        form: str = "green",
    ) -> str:
        body = {
            "type": "harvest",
            "lot": lot,
            "product": "coffee",
            "form": form,
            "quantity": kg,
            "unit": "kg",
        }
        if member:
            body.update(member=member, plot=plot)
        return self.append(party, body)

    def ship(self, party: str, to: str, lines: list[tuple[str, str, str]]) -> str:
        return self.append(
            party,
            {
                "type": "ship",
                "to": to,
                "claims": ["SPP"],
                "lots": [
                    {"lot": lot, "event": ev, "quantity": kg, "unit": "kg"} for lot, ev, kg in lines
                ],
            },
        )

    def receive(self, party: str, shipment: str, lines: list[tuple[str, str]]) -> str:
        return self.append(
            party,
            {
                "type": "receive",
                "shipment": shipment,
                "lots": [{"lot": lot, "quantity": kg, "unit": "kg"} for lot, kg in lines],
            },
        )

    def move(self, frm: str, to: str, lot: str, via: str, kg: str) -> str:
        """Ship and receive in full; returns the receipt id."""
        return self.receive(to, self.ship(frm, to, [(lot, via, kg)]), [(lot, kg)])

    def transform(
        self,
        party: str,
        process: str,
        inputs: list[tuple[str, str, str]],
        outputs: list[tuple[str, str, str]],
    ) -> str:
        return self.append(
            party,
            {
                "type": "transform",
                "process": process,
                "inputs": [
                    {"lot": lot, "event": ev, "quantity": kg, "unit": "kg"}
                    for lot, ev, kg in inputs
                ],
                "outputs": [
                    {"lot": lot, "product": "coffee", "form": form, "quantity": kg, "unit": "kg"}
                    for lot, form, kg in outputs
                ],
            },
        )


COOP, COOP2, ESTATE = "coop-pangoa", "coop-marcala", "finca-grande"
EXPORTER, ROASTER, BRAND = "andes-trading", "tostaduria", "buen-cafe"
M1, P1 = "coop-pangoa:m-1", "coop-pangoa:p-1"
M2, P2 = "coop-marcala:m-7", "coop-marcala:p-7"
MBIG, PBIG = "coop-pangoa:m-9", "coop-pangoa:p-9"


def base(
    world: World, *, cert_until: str = "2027-12-31", uncertified: tuple[str, ...] = ()
) -> Coffee:
    c = Coffee(world)
    c.party(COOP, ["spo"], "PE")
    c.party(COOP2, ["spo"], "HN")
    c.party(ESTATE, ["producer"], "BR")
    c.party("certi-sur", ["certifier"], "DE")
    c.party(EXPORTER, ["trader"], "PE")
    c.party(ROASTER, ["roaster"], "SE")
    c.party(BRAND, ["brand"], "SE")
    c.certify(COOP, "SPP-PE-1", valid_until=cert_until)
    c.certify(COOP2, "SPP-HN-2")
    for p in (EXPORTER, ROASTER, BRAND):
        if p not in uncertified:
            c.certify(p, f"SPP-REG-{p}")
    c.enroll(COOP, M1, P1, "2.4")
    c.enroll(COOP, MBIG, PBIG, "22")
    c.enroll(COOP2, M2, P2, "3.0")
    return c


def to_roaster(c: Coffee, spo: str, lot: str, harvest: str, kg: str) -> str:
    """SPO → exporter → roaster; returns the roaster's receipt of ``lot``."""
    at_exporter = c.move(spo, EXPORTER, lot, harvest, kg)
    return c.move(EXPORTER, ROASTER, lot, at_exporter, kg)


def roast_and_pack(
    c: Coffee,
    inputs: list[tuple[str, str, str]],
    total: str,
    name: str = "bag",
    *,
    publish: bool = True,
) -> str:
    """Roaster roasts the inputs (green, 80 % yield) and the brand packs (and, unless told
    not to, publishes): the bag lot id."""
    roasted = f"{ROASTER}:{name}-roasted"
    out = str(int(total) * 8 // 10)
    r = c.transform(ROASTER, "roast", inputs, [(roasted, "roasted", out)])
    rec = c.move(ROASTER, BRAND, roasted, r, out)
    bag = f"{BRAND}:{name}"
    c.transform(BRAND, "pack", [(roasted, rec, out)], [(bag, "packed", out)])
    if publish:
        c.append(BRAND, {"type": "lot.publish", "lot": bag})
    return bag


def single_origin(world: World, **kw: Any) -> str:
    c = base(world, **kw)
    h = c.harvest(COOP, f"{COOP}:h-1", "100", M1, P1)
    rec = to_roaster(c, COOP, f"{COOP}:h-1", h, "100")
    return roast_and_pack(c, [(f"{COOP}:h-1", rec, "100")], "100")


def blend_60_40(world: World) -> str:
    c = base(world)
    h = c.harvest(COOP, f"{COOP}:h-1", "60", M1, P1)
    e = c.harvest(ESTATE, f"{ESTATE}:h-1", "40")
    r1 = to_roaster(c, COOP, f"{COOP}:h-1", h, "60")
    r2 = c.move(ESTATE, ROASTER, f"{ESTATE}:h-1", e, "40")
    return roast_and_pack(c, [(f"{COOP}:h-1", r1, "60"), (f"{ESTATE}:h-1", r2, "40")], "100")


def two_spos(world: World) -> str:
    c = base(world)
    h1 = c.harvest(COOP, f"{COOP}:h-1", "30", M1, P1)
    h2 = c.harvest(COOP2, f"{COOP2}:h-1", "70", M2, P2)
    r1 = to_roaster(c, COOP, f"{COOP}:h-1", h1, "30")
    r2 = to_roaster(c, COOP2, f"{COOP2}:h-1", h2, "70")
    return roast_and_pack(c, [(f"{COOP}:h-1", r1, "30"), (f"{COOP2}:h-1", r2, "70")], "100")


def oversize_plot(world: World) -> str:
    c = base(world)
    h1 = c.harvest(COOP, f"{COOP}:h-1", "50", M1, P1)
    h2 = c.harvest(COOP, f"{COOP}:h-2", "50", MBIG, PBIG)
    r1 = to_roaster(c, COOP, f"{COOP}:h-1", h1, "50")
    r2 = to_roaster(c, COOP, f"{COOP}:h-2", h2, "50")
    return roast_and_pack(c, [(f"{COOP}:h-1", r1, "50"), (f"{COOP}:h-2", r2, "50")], "100")


def voided_receipt(world: World) -> str:
    """A receipt is voided (typed wrong) and recorded again; the bag is still 100 %."""
    c = base(world)
    h = c.harvest(COOP, f"{COOP}:h-1", "100", M1, P1)
    at_exporter = c.move(COOP, EXPORTER, f"{COOP}:h-1", h, "100")
    ship = c.ship(EXPORTER, ROASTER, [(f"{COOP}:h-1", at_exporter, "100")])
    wrong = c.receive(ROASTER, ship, [(f"{COOP}:h-1", "10")])
    c.append(ROASTER, {"type": "void", "event": wrong, "reason": "quantity typed wrong"})
    rec = c.receive(ROASTER, ship, [(f"{COOP}:h-1", "100")])
    return roast_and_pack(c, [(f"{COOP}:h-1", rec, "100")], "100")
