"""The byte model of a step's gradient exchange and the sampler's bytes in a window (pure)."""

import pytest

from harness.report.figures.commbytes import (bytes_in_window, check_host, ps_host_bytes, ring_allreduce_bytes,
                                      ring_host_bytes)


def test_ring_allreduce_moves_two_n_minus_one_over_n_of_the_gradients_per_rank():
    assert ring_allreduce_bytes(1000, 1) == 0
    assert ring_allreduce_bytes(1000, 2) == 1000
    assert ring_allreduce_bytes(1000, 4) == 1500
    with pytest.raises(ValueError):
        ring_allreduce_bytes(1000, 0)


def test_ring_on_separate_hosts_sends_and_receives_the_same_on_each():
    out = ring_host_bytes(1000, ["a", "b", "c", "d"])
    assert out == {h: (1500.0, 1500.0) for h in "abcd"}


def test_ring_neighbours_on_one_host_stay_off_the_network():
    # ranks 0,1 on a; 2,3 on b: only 1→2 and 3→0 cross the network
    out = ring_host_bytes(1000, ["a", "a", "b", "b"])
    assert out == {"a": (1500.0, 1500.0), "b": (1500.0, 1500.0)}
    assert ring_host_bytes(1000, ["a", "a"]) == {"a": (0.0, 0.0)}


def test_ps_pull_and_push_per_cluster_step_skip_the_ps_host():
    # 4 workers, one on the ps host: per cluster step (1/4 of each worker's step) each remote
    # worker pushes and pulls G/4; the ps sends and receives 3 × G/4
    out = ps_host_bytes(800, ["a", "b", "c", "d"], ["a"])
    assert out["a"] == (600.0, 600.0)
    assert out["b"] == out["c"] == out["d"] == (200.0, 200.0)
    # two ps split the variables
    out = ps_host_bytes(800, ["b"], ["a", "c"])
    assert out == {"b": (800.0, 800.0), "a": (400.0, 400.0), "c": (400.0, 400.0)}


def sample(t, dt, sent, recv):
    return {"event": "sample", "t_wall": t, "dt_s": dt, "net_sent_bytes_per_s": sent, "net_recv_bytes_per_s": recv}


def test_window_counts_the_overlapping_part_of_each_sample():
    s = [sample(10, 1, 100, 50), sample(11, 1, 200, 100), sample(12, 1, 400, 0), sample(13, 1, 1e9, 1e9)]
    w = bytes_in_window(s, 9.5, 11.5)   # half of the first, all of the second, half of the third
    assert w.sent_bytes == pytest.approx(50 + 200 + 200)
    assert w.recv_bytes == pytest.approx(25 + 100)
    assert w.covered_s == pytest.approx(2.0) and w.samples == 3
    assert bytes_in_window(s, 20, 30) is None
    assert bytes_in_window([{"t_wall": 1, "dt_s": None}], 0, 2) is None


def test_check_compares_rates():
    w = bytes_in_window([sample(10, 2, 300, 300)], 8, 10)
    c = check_host("a", (100.0, 100.0), 2.0, w)   # 200 B/s predicted each way, 300 measured
    assert c.ratio == pytest.approx(1.5)
