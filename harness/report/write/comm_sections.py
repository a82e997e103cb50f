"""The report's Communication section: per distributed configuration, the direct share and
what else the run says about it (comm.py computes it; docs/metrics.md, "Communication")."""

from __future__ import annotations

from harness.report.figures.analysis import RunAnalysis
from harness.strategies import gradients_of
from harness.strategies.base import PS_PUSH_PULL
from harness.report.write.blocks import NONE, Block, Bullets, Heading, fmt_bytes, fmt_num, fmt_share


def communication_blocks(a: RunAnalysis) -> list[Block]:
    """Per distributed configuration: the direct share and what else the run says about it
    (docs/metrics.md, "Communication")."""
    blocks: list[Block] = []
    for sc in a.scaling:
        c = sc.comm
        if c is None or not sc.distributed:
            continue
        items = []
        if c.direct is not None:
            hw = f" ± {fmt_share(c.direct.half_width)}" if c.direct.half_width is not None else ""
            items.append(f"Direct communication share: {fmt_share(c.direct.value)}{hw} (95 %) = 1 − "
                         f"{fmt_num(c.direct.t_compute_s)} s per step without communication (calibration, "
                         f"{c.direct.n_compute} steps) ÷ {fmt_num(c.direct.t_step_s)} s per training step "
                         f"({c.direct.n_step} after warm-up)")
            items += [f"{r.task_id} ({r.host}): {fmt_share(r.share.value)}"
                      + (f" ± {fmt_share(r.share.half_width)}" if r.share.half_width is not None else "")
                      + f" = 1 − {fmt_num(r.share.t_compute_s)} s ÷ {fmt_num(r.share.t_step_s)} s" for r in c.ranks]
        else:
            items.append(f"Direct communication share: n/a ({c.direct_reason})")
        if c.baseline_share is not None:
            items.append(f"Baseline estimator: {fmt_share(c.baseline_share)} = 1 − {fmt_num(c.baseline_step_s)} s "
                         f"({c.baseline_config}) ÷ {fmt_num(c.direct.t_step_s)} s; CPU-contention part "
                         f"(t_compute − t_single) ÷ t_step = {fmt_num(c.direct.t_compute_s - c.baseline_step_s)} s ÷ "
                         f"{fmt_num(c.direct.t_step_s)} s = {fmt_share(c.contention_share)}; communication "
                         f"t_step − t_compute = {fmt_num(c.direct.t_step_s - c.direct.t_compute_s)} s per step")
        if c.disagreement:
            items.append(f"The two disagree: {c.disagreement}")
        if c.straggler_calibration:
            items.append(f"Straggler wait (calibration): {c.straggler_calibration}")
        if c.straggler:
            items.append(f"Straggler wait (timeline): {c.straggler}")
        if c.oversubscription:
            items.append(f"Shared cores: {c.oversubscription}" + (f"; {c.baseline_alone}" if c.baseline_alone else ""))
        if c.wire_bytes_per_step is not None:
            what = ("push + pull per worker step" if gradients_of(c.strategy) == PS_PUSH_PULL
                    else "ring all-reduce, 2(N−1)/N × G sent per rank per step")
            items.append(f"Bytes per step: G = {fmt_bytes(c.gradient_bytes)} of gradients; model "
                         f"{fmt_bytes(c.wire_bytes_per_step)} ({what})")
        for h in c.byte_checks:
            items.append(f"{h.host}: model {fmt_bytes(h.predicted_sent_bytes_per_s)}/s sent, "
                         f"{fmt_bytes(h.predicted_recv_bytes_per_s)}/s received; sampler "
                         f"{fmt_bytes(h.measured_sent_bytes_per_s)}/s, {fmt_bytes(h.measured_recv_bytes_per_s)}/s "
                         f"over the kept steps ({h.samples} samples); measured ÷ model "
                         f"{fmt_num(h.ratio, 3) if h.ratio is not None else NONE}")
        if c.byte_ratio is not None:
            items.append(f"Measured ÷ model bytes, all hosts: {fmt_num(c.byte_ratio, 3)}" + (
                f"; without the background of {fmt_bytes(c.background_bytes_per_s)}/s measured between the ranks' "
                f"handshake and the first step (control messages, no gradients): {fmt_num(c.byte_ratio_net, 3)}"
                if c.byte_ratio_net is not None else ""))
        if c.achieved_bits_per_s is not None:
            link = (f" against a {c.link_bits_per_s / 1e6:.6g} Mbit/s link ({c.link_source})"
                    if c.link_bits_per_s else f" ({c.link_source})")
            items.append(f"Achieved bandwidth: {c.achieved_bits_per_s / 1e6:.4g} Mbit/s = wire bytes per step ÷ "
                         f"{fmt_num(c.comm_s_per_step)} s of communication per step{link}")
        items += c.notes
        blocks += [Heading(3, f"Communication: {sc.config}"), Bullets(items)]
    if blocks:
        blocks.insert(0, Heading(2, "Communication"))
    return blocks
