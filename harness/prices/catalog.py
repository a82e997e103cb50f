"""The bundled price catalog and how a host's hourly price is chosen.

On-demand, first found wins:
  1. the inventory host's `price_per_hour` (what the user says they pay),
  2. `prices.json` in the run directory, `on_demand[instance_type]` (live prices, written by
     the AWS step when credentials and network allow),
  3. this package's catalog CSV by instance type (dated list prices).
Spot, first found wins: the inventory's `spot_price_per_hour`, then `prices.json`
`spot[instance_type]`. There is deliberately no fallback to a fixed discount: spot prices
move by zone and hour, so an invented number would look measured when it is not."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Optional

CATALOG_FILE = "catalog-us-east-1.csv"
CATALOG_COLUMNS = ("instance_type", "vcpus", "gpus", "gpu_model", "on_demand_usd_per_hour",
                   "source", "as_of")


@dataclass(frozen=True)
class CatalogEntry:
    instance_type: str
    vcpus: int
    gpus: int
    gpu_model: Optional[str]  # e.g. "Tesla T4"; None on CPU instances
    on_demand_usd_per_hour: float
    source: str  # e.g. "public price tables" or "recalled list price (verify)"
    as_of: str  # e.g. "2026-11"


@dataclass(frozen=True)
class Catalog:
    name: str  # file name, shown as the source of catalog prices
    entries: Mapping[str, CatalogEntry]

    def get(self, instance_type: Optional[str]) -> Optional[CatalogEntry]:
        return self.entries.get(instance_type) if instance_type else None


def parse_catalog(text: str, name: str) -> Catalog:
    """Parse the catalog CSV; a malformed row is an error (the file ships with the code)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CATALOG_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")
    entries: dict[str, CatalogEntry] = {}
    for line, row in enumerate(reader, start=2):
        try:
            entry = CatalogEntry(
                instance_type=row["instance_type"].strip(), vcpus=int(row["vcpus"]),
                gpus=int(row["gpus"]), gpu_model=row["gpu_model"].strip() or None,
                on_demand_usd_per_hour=float(row["on_demand_usd_per_hour"]),
                source=row["source"].strip(), as_of=row["as_of"].strip())
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name} line {line}: {e}") from None
        if not entry.instance_type or entry.on_demand_usd_per_hour < 0:
            raise ValueError(f"{name} line {line}: empty instance type or negative price")
        entries[entry.instance_type] = entry
    return Catalog(name=name, entries=entries)


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The bundled catalog (package data of harness.prices), or the CSV at `path`."""
    if path is not None:
        p = Path(path)
        return parse_catalog(p.read_text(encoding="utf-8"), p.name)
    text = resources.files("harness.prices").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    return parse_catalog(text, CATALOG_FILE)


# --- live prices (prices.json) -------------------------------------------------------------

@dataclass(frozen=True)
class LivePrices:
    """prices.json: {"on_demand": {type: usd_per_hour}, "spot": {type: usd_per_hour},
    "source": "...", "as_of": "..."}."""
    on_demand: Mapping[str, float]
    spot: Mapping[str, float]
    source: str
    as_of: str


def _price_value(v: Any) -> Optional[float]:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        return None
    return float(v)


def parse_live_prices(doc: Any) -> tuple[Optional[LivePrices], list[str]]:
    """Valid entries of a parsed prices.json and a message for each entry that was skipped."""
    if not isinstance(doc, dict):
        return None, ["not a JSON object; ignored"]
    notes: list[str] = []
    tables: dict[str, dict[str, float]] = {}
    for key in ("on_demand", "spot"):
        raw = doc.get(key) or {}
        table: dict[str, float] = {}
        if not isinstance(raw, dict):
            notes.append(f"{key}: not an object; ignored")
            raw = {}
        for itype, value in sorted(raw.items()):
            price = _price_value(value)
            if price is None:
                notes.append(f"{key}.{itype}: {value!r} is not a price in USD per hour; ignored")
            else:
                table[itype] = price
        tables[key] = table
    return LivePrices(on_demand=tables["on_demand"], spot=tables["spot"],
                      source=str(doc.get("source") or "prices.json"),
                      as_of=str(doc.get("as_of") or "date not given")), notes


# --- resolution -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Price:
    """An hourly price and where it came from; `usd_per_hour` None with `reason` when unknown."""
    usd_per_hour: Optional[float]
    source: str = ""
    reason: str = ""

    @property
    def known(self) -> bool:
        return self.usd_per_hour is not None


@dataclass(frozen=True)
class HostPrice:
    host: str
    instance_type: Optional[str]
    on_demand: Price
    spot: Price


def resolve_host_price(host: str, instance_type: Optional[str],
                       inventory_host: Optional[Mapping[str, Any]],
                       live: Optional[LivePrices], catalog: Catalog) -> HostPrice:
    """Pick the on-demand and spot $/h of one host by the rules in the module docstring."""
    inv = inventory_host or {}
    itype = instance_type or inv.get("instance_type") or None
    itype = itype if isinstance(itype, str) else None  # a hand-edited file may hold anything

    override = _price_value(inv.get("price_per_hour"))
    if override is not None:
        on_demand = Price(override, f"inventory price_per_hour of host {host}")
    elif live is not None and itype in live.on_demand:
        on_demand = Price(live.on_demand[itype], f"prices.json on_demand {itype} ({live.source}, {live.as_of})")
    elif catalog.get(itype) is not None:
        e = catalog.get(itype)
        on_demand = Price(e.on_demand_usd_per_hour,
                          f"catalog {catalog.name}: {itype}, {e.source}, as of {e.as_of}")
    elif itype:
        where = "" if live is None else " (prices.json has none either)"
        on_demand = Price(None, reason=f"host {host}: {itype}: no catalog price{where}; pass "
                                       f"price_per_hour or use live prices")
    else:
        on_demand = Price(None, reason=f"host {host}: no price_per_hour and no instance_type "
                                       f"in the inventory")

    spot_override = _price_value(inv.get("spot_price_per_hour"))
    if spot_override is not None:
        spot = Price(spot_override, f"inventory spot_price_per_hour of host {host}")
    elif live is not None and itype in live.spot:
        spot = Price(live.spot[itype], f"prices.json spot {itype} ({live.source}, {live.as_of})")
    else:
        why = "no prices.json in the run directory" if live is None else \
            (f"prices.json has no spot price for {itype}" if itype else "no instance_type")
        spot = Price(None, reason=f"host {host}: no spot_price_per_hour in the inventory and {why}")
    return HostPrice(host=host, instance_type=itype, on_demand=on_demand, spot=spot)
