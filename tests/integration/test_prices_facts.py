"""Bundled instance facts (harness.prices.facts) and the catalog's coverage of what users rent."""

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from harness.prices import load_catalog
from harness.prices.facts import FACTS_FILE, load_facts, parse_facts, render_facts

REPO = Path(__file__).resolve().parents[2]
STUDY_TYPES = ("g3s.xlarge", "g3.4xlarge", "g4dn.4xlarge", "p2.xlarge", "p3.2xlarge", "c3.xlarge")


@pytest.fixture(scope="module")
def facts():
    return load_facts()


def test_facts_cover_every_type_in_moto_data_with_source_and_version(facts):
    assert resources.files("harness.prices").joinpath(FACTS_FILE).is_file()
    assert len(facts.facts) > 1300
    assert facts.sources["moto"].startswith("moto ") and "instance_types.json.gz" in facts.sources["moto"]
    t4 = facts.get("g4dn.4xlarge")
    assert (t4.vcpus, t4.memory_mib, t4.gpus, t4.gpu_name, t4.gpu_memory_mib) == (16, 65536, 1, "NVIDIA T4", 16384)
    assert t4.network_performance == "Up to 25 Gigabit"
    assert "moto" in facts.source_of("g4dn.4xlarge")
    c5 = facts.get("c5.large")
    assert (c5.vcpus, c5.gpus, c5.gpu_name) == (2, 0, None)
    # previous-generation types the studies rent, absent from moto's data, say where they come from
    assert facts.get("p2.xlarge").gpu_name == "NVIDIA K80" and "verify" in facts.source_of("p2.xlarge")
    assert facts.get("x9.weird") is None and facts.get(None) is None


def test_generator_reproduces_the_bundled_file():
    # the file is what tools/gen_instance_facts.py makes from the installed moto
    pytest.importorskip("moto")
    r = subprocess.run([sys.executable, str(REPO / "tools" / "gen_instance_facts.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_render_and_parse_round_trip_and_bad_files():
    text = render_facts([("z.big", 8, 1024, 2, "NVIDIA T4", 16384, "10 Gigabit", "s"),
                         ("a.small", 1, 512, 0, None, None, None, "s")], {"s": "my source 1.0"})
    t = parse_facts(text, "f.csv")
    assert list(t.facts) == ["a.small", "z.big"] and t.get("a.small").gpu_memory_mib is None
    assert t.source_of("z.big") == "f.csv: my source 1.0"
    with pytest.raises(ValueError, match="not in the header"):
        parse_facts(text.replace("# source s:", "# source q:"), "f.csv")
    with pytest.raises(ValueError, match="f.csv data line 3"):
        parse_facts(text.replace(",8,1024,", ",eight,1024,"), "f.csv")


def test_catalog_prices_the_families_the_studies_and_readme_mention(facts):
    cat = load_catalog()
    for t in (*STUDY_TYPES, "c5.large", "c5.xlarge", "c6i.xlarge", "c7i.large", "m5.large", "g5.xlarge"):
        assert cat.get(t) is not None, t
    for t, e in cat.entries.items():
        f = facts.get(t)
        assert f is not None, f"{t}: in the catalog but not in the facts"
        assert (e.vcpus, e.gpus) == (f.vcpus, f.gpus), t
        assert e.source and e.as_of


def test_report_falls_back_to_bundled_facts_without_instance_facts_json(tmp_path):
    from harness.report.write.sections import instance_facts_blocks

    assert instance_facts_blocks(tmp_path) == []
    assert instance_facts_blocks(tmp_path, ["x9.weird"]) == []
    blocks = instance_facts_blocks(tmp_path, ["p2.xlarge", "c5.large", "x9.weird"])
    table = blocks[-1]
    assert [r[0] for r in table.rows] == ["c5.large", "p2.xlarge"]
    assert table.rows[1][3] == "1" and table.rows[1][4] == "NVIDIA K80"
    assert "declared in the inventory" in blocks[1].text and "moto" in blocks[1].text
