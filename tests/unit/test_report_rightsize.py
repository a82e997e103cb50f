"""harness/report/figures/rightsize.py: a cheaper type of the same family that holds the
peak, on the bundled price catalog and instance facts."""

import pytest

from harness.prices import load_catalog
from harness.prices.facts import load_facts
from harness.report.figures.rightsize import Demand, smaller_type

CAT, FACTS = load_catalog(), load_facts()


def test_a_cpu_host_at_a_third_of_its_peak_gets_the_half_size_type():
    # p95 CPU 35 % of c7i.2xlarge's 8 vCPUs = 2.8 vCPUs: c7i.xlarge (4) holds it at 70 % (≤ 90 %),
    # c7i.large (2) would not; half the price
    s = smaller_type("c7i.2xlarge", Demand(vcpus=2.8), CAT, FACTS)
    assert s.instance_type == "c7i.xlarge" and s.cpu_peak == pytest.approx(0.7)
    assert s.saving == pytest.approx(1 - 0.1785 / 0.357)
    assert "c7i.xlarge (4 vCPUs, $0.1785/h) would hold that peak at 70 % of its vCPUs" in s.text()
    assert "50 % less per hour than c7i.2xlarge" in s.text() and "if throughput holds" in s.text()
    # 1.5 vCPUs fit c7i.large (2 vCPUs at 75 %): the cheapest that fits wins
    assert smaller_type("c7i.2xlarge", Demand(vcpus=1.5), CAT, FACTS).instance_type == "c7i.large"


def test_memory_and_gpus_must_fit_too():
    # 1.5 vCPUs but 6 GiB used: c7i.large has 4 GiB, so c7i.xlarge (8 GiB)
    assert smaller_type("c7i.2xlarge", Demand(1.5, 0, 6 << 30), CAT, FACTS).instance_type == "c7i.xlarge"
    # g4dn.12xlarge, 4 T4s at p95 20 % = 0.8 GPUs, CPU 4.8 vCPUs: one T4 with ≥ 5.3 vCPUs
    s = smaller_type("g4dn.12xlarge", Demand(4.8, 0.8), CAT, FACTS)
    assert (s.instance_type, s.gpus) == ("g4dn.2xlarge", 1)
    # 1.2 GPUs busy do not fit one GPU at 90 %: nothing cheaper in the family holds it
    assert smaller_type("g4dn.12xlarge", Demand(4.8, 1.2), CAT, FACTS) is None


def test_nothing_when_the_type_is_unknown_or_already_the_smallest_that_fits():
    assert smaller_type("sandbox", Demand(0.5), CAT, FACTS) is None
    assert smaller_type(None, Demand(0.5), CAT, FACTS) is None
    assert smaller_type("c7i.large", Demand(0.5), CAT, FACTS) is None
