"""Cost figures against hand-computed values (gpu_run and standard_run, tests/support/runfixtures.py).

Prices: g4dn.xlarge on-demand 0.526 $/h (catalog); spot g1 0.2 (inventory override), g2
0.1578 (prices.json); x9.weird has no price anywhere; c5.xlarge 0.17 (catalog), no spot."""

import pytest

from harness.prices import load_catalog
from harness.report.figures.cost import compute_costs, fmt_usd
from harness.report.read.rundir import load_run
from harness.report.figures.metrics import compute_metrics
from tests.support.runfixtures import RunDir, standard_run
from tests.support.gpu_runs import gpu_run


def _costs(root):
    run = load_run(root)
    costs, notes = compute_costs(run, compute_metrics(run), load_catalog())
    return {c.config: c for c in costs}, notes


@pytest.fixture(scope="module")
def gpu(tmp_path_factory):
    return _costs(gpu_run(tmp_path_factory.mktemp("c") / "run"))


@pytest.fixture(scope="module")
def std(tmp_path_factory):
    return _costs(standard_run(tmp_path_factory.mktemp("s") / "run"))


def test_single_host_on_demand_and_spot(gpu):
    c = gpu[0]["single"]
    od, sp = c.on_demand, c.spot
    assert (od.rate.usd_per_hour, od.rate.text) == (0.526, "1 host × $0.526/h")
    assert (sp.rate.usd_per_hour, sp.rate.text) == (0.2, "1 host × $0.2/h")
    # billed: config_start 1000 -> config_end 1011 = 11 s; 0.526 * 11 / 3600 = 0.00160722
    assert c.billed_wall_s == 11.0 and c.billed_method == "config_start → config_end (control.jsonl)"
    assert od.billed.usd == pytest.approx(0.526 * 11 / 3600)
    assert od.billed.inputs == "1 host × $0.526/h × 11 s"
    # start-up 5 s (first step end 1005 - 1000, first step 1.0 s included); training
    # 4.28 s (1004.0 -> 1008.28) less that first step (counted once, in start-up): 3.28 s
    assert od.startup.usd == pytest.approx(0.526 * 5 / 3600)
    assert od.training.usd == pytest.approx(0.526 * 3.28 / 3600)  # 0.000479244
    assert od.training.inputs == "1 host × $0.526/h × 3.28 s"
    # end to end: 4.28 s of training for all 6 records × 64 = 384 images
    assert od.per_million_images_end_to_end.usd == pytest.approx(0.526 * 4.28 / 3600 / 384e-6)
    # per epoch: training / 2 epochs completed
    assert od.per_epoch.usd == pytest.approx(0.526 * 4.28 / 3600 / 2)
    assert od.per_epoch.inputs == "1 host × $0.526/h × 4.28 s ÷ 2 epochs"
    # per 10^6 images at 100 images/s: 0.526 / 3600 * 1e6 / 100 = 1.46111
    assert od.per_million_images.usd == pytest.approx(1.4611111, rel=1e-6)
    assert od.per_million_images.inputs == "1 host × $0.526/h × 10⁶ images ÷ 100 images/s"
    # to target: 10 s (epoch 2 at 1010.0); spot 0.2 * 10 / 3600 = 0.000555556
    assert od.to_target.usd == pytest.approx(0.526 * 10 / 3600)
    assert sp.to_target.usd == pytest.approx(0.2 * 10 / 3600)
    assert sp.to_target.text == "$0.0005556 = 1 host × $0.2/h × 10 s"
    [hp] = c.host_prices
    assert hp.on_demand.source == "catalog catalog-us-east-1.csv: g4dn.xlarge, public price tables, as of 2026-11"
    assert hp.spot.source == "inventory spot_price_per_hour of host g1"


def test_two_hosts_with_different_spot_sources(gpu):
    c = gpu[0]["hvd2"]
    # on-demand 2 x 0.526 = 1.052 $/h; spot 0.2 (g1, inventory) + 0.1578 (g2, prices.json)
    assert (c.on_demand.rate.usd_per_hour, c.on_demand.rate.text) == (pytest.approx(1.052), "2 hosts × $0.526/h")
    assert c.spot.rate.usd_per_hour == pytest.approx(0.3578)
    assert c.spot.rate.text == "($0.2/h g1 + $0.1578/h g2)"
    assert c.spot.rate.sources == ("inventory spot_price_per_hour of host g1",
                                   "prices.json spot g4dn.xlarge (test spot history, 2026-11-20)")
    # billed 2012 - 2000 = 12 s; training 2004.0 -> 2010.4 = 6.4 s; to target 8 s
    assert c.on_demand.billed.usd == pytest.approx(1.052 * 12 / 3600)
    # training 6.4 s less the first step (1.0 s, counted in start-up)
    assert c.on_demand.training.usd == pytest.approx(1.052 * 5.4 / 3600)  # 0.001578
    assert c.spot.to_target.usd == pytest.approx(0.3578 * 8 / 3600)       # 0.000795111
    # 144 images/s: 1.052 / 3600 * 1e6 / 144 = 2.02932
    assert c.on_demand.per_million_images.usd == pytest.approx(2.0293210, rel=1e-6)


def test_missing_prices_give_na_with_reasons(gpu, std):
    odd = gpu[0]["odd"]
    assert odd.on_demand.rate.usd_per_hour is None
    assert odd.on_demand.rate.reason == ("host g3: x9.weird: no catalog price (prices.json has none "
                                         "either); pass price_per_hour or use live prices")
    assert odd.on_demand.training.usd is None
    assert odd.on_demand.training.text.startswith("n/a (no on-demand price: host g3: ")
    assert odd.spot.rate.reason == ("host g3: no spot_price_per_hour in the inventory and prices.json "
                                    "has no spot price for x9.weird")
    # the billed time is still known; only the price is missing
    assert odd.billed_wall_s == 6.0
    # a damaged prices.json entry is skipped and said so
    assert gpu[1] == ["prices.json: spot.c5.xlarge: 'cheap' is not a price in USD per hour; ignored"]
    # standard run: catalog on-demand, no spot anywhere; the same reason is said once
    two = std[0]["two"]
    assert two.on_demand.rate.text == "2 hosts × $0.17/h"
    assert two.spot.rate.reason == ("hosts h1, h2: no spot_price_per_hour in the inventory and no "
                                    "prices.json in the run directory")
    assert two.spot.per_million_images.reason.startswith("no spot price: hosts h1, h2:")
    assert std[1] == []


def test_figures_without_their_time_say_why(std):
    c = std[0]
    one, two, gone = c["one"], c["two"], c["gone"]
    # one: 1 host x 0.17 $/h; billed 115 - 100 = 15 s, to target 12.3 s
    assert one.on_demand.billed.usd == pytest.approx(0.17 * 15 / 3600)
    assert one.on_demand.to_target.inputs == "1 host × $0.17/h × 12.3 s"
    # two never reached its target; per 10^6 images at 234.667 images/s
    assert two.on_demand.to_target.reason == "target not reached"
    assert two.on_demand.per_million_images.usd == pytest.approx(0.34 / 3600 * 1e6 / (128 + 192 / 1.8))
    # gone: the host is billed for the 30 s it was held, though nothing ran
    assert gone.on_demand.billed.usd == pytest.approx(0.17 * 30 / 3600)
    assert gone.on_demand.startup.reason == "no start-up time"
    assert gone.on_demand.training.reason == "no training time"
    assert gone.on_demand.per_million_images.reason == "no steady-state throughput"


def test_billed_time_without_config_end_is_a_lower_bound(tmp_path):
    r = RunDir(tmp_path)
    r.resolved({"warmup_steps": 0}, [], hosts=[{"name": "h1", "instance_type": "c5.xlarge",
                                                "price_per_hour": 1.0}])
    r.control("config_start", 10.0, config="c", strategy="single", workers=1, ps=0, hosts=["h1"],
              instance_types={"h1": None})
    t = r.task("c", "w0", "h1")
    t.step(12.0, 1, 1.0, steps=1)
    t.step(14.0, 2, 1.0, steps=1)  # the last record of the configuration: 14 - 10 = 4 s
    r.write_plan()
    c = _costs(tmp_path)[0]["c"]
    assert c.billed_wall_s == 4.0 and "lower bound" in c.billed_method
    # inventory override; instance type from the inventory when config_start has none
    assert c.on_demand.billed.usd == pytest.approx(1.0 * 4 / 3600)
    assert c.host_prices[0].instance_type == "c5.xlarge"
    assert c.host_prices[0].on_demand.source == "inventory price_per_hour of host h1"


def test_usd_format():
    assert [fmt_usd(x) for x in (None, 0, 2.634e-05, 0.0005354, 0.5903, 1.4611, 1234.5)] == \
        ["n/a", "$0", "$0.00002634", "$0.0005354", "$0.5903", "$1.46", "$1,234.50"]
