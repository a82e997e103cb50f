"""Instance prices: the bundled on-demand catalog and the rules that pick a host's price
(inventory override, live prices.json, catalog). Pure: no network here; fetching live
prices is a separate step that writes prices.json into the run directory."""

from harness.prices.catalog import (
    CATALOG_FILE, Catalog, CatalogEntry, HostPrice, LivePrices, Price, load_catalog,
    parse_catalog, parse_live_prices, resolve_host_price,
)

__all__ = ["CATALOG_FILE", "Catalog", "CatalogEntry", "HostPrice", "LivePrices", "Price",
           "load_catalog", "parse_catalog", "parse_live_prices", "resolve_host_price"]
