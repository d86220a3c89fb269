"""What ``PatAttnBackend`` reports about its decode steps in the server's log: the CPU time PAT
adds to a step (``PlanTimes``) and, in verification mode, the gap between PAT and triton
(``TritonGap``)."""

from __future__ import annotations

import logging

import numpy as np
import torch

from .graph_switch import GraphSwitches

logger = logging.getLogger(__name__)

PLAN_TIMES_LOGGED_EVERY = 200  # decode steps between two 'planning µs per step' log lines


class PlanTimes:
    """CPU time PAT adds to a served decode step (forest from the radix tree, plan, upload,
    gather launch), logged as percentiles every PLAN_TIMES_LOGGED_EVERY steps."""

    def __init__(self) -> None:
        self.us = np.zeros(PLAN_TIMES_LOGGED_EVERY)
        self.count = 0

    def record(
        self, seconds: float, batch_size: int, unstaged_steps: int, switches: GraphSwitches
    ) -> None:
        """One step's time; ``unstaged_steps`` (warmup and capture) and the decoder's graph
        ``switches`` (counted only when a line is logged) go into the log line."""
        self.us[self.count % PLAN_TIMES_LOGGED_EVERY] = seconds * 1e6
        self.count += 1
        if self.count % PLAN_TIMES_LOGGED_EVERY:
            return
        p50, p90, p99 = np.percentile(self.us, [50, 90, 99])
        logger.info(
            "pat: planning CPU time per decode step over the last %d steps: "
            "p50 %.0f us, p90 %.0f us, p99 %.0f us (last batch %d requests); "
            "%d warmup and capture steps not counted; graph switches: %d graphs, "
            "%d changes of form",
            PLAN_TIMES_LOGGED_EVERY,
            p50,
            p90,
            p99,
            batch_size,
            unstaged_steps,
            *switches.counts(),
        )


class TritonGap:
    """Verification mode: over every verified layer, on the device (so that a captured graph
    records the comparison too), max |pat - triton|, max |triton| and max |pat - triton| /
    (1 + |triton|), the form of the kernel tests' tolerance; logged once a served step."""

    def __init__(self, device: torch.device) -> None:
        self.stats = torch.zeros(3, dtype=torch.float32, device=device)
        self.steps = 0
        # Requests in the step: a replayed graph also runs padding rows, which PAT leaves
        # unwritten and SGLang drops, so they are not compared.
        self.rows = torch.zeros((), dtype=torch.int64, device=device)

    def start_step(self, num_requests: int, staged: bool) -> None:
        """Log the largest gap over the served decode steps before this one (a host sync per
        step: verification mode only); warmup and capture steps (not ``staged``) are not
        counted."""
        self.rows.fill_(num_requests)
        if not staged and not self.steps:
            return
        if self.steps:
            gap, scale, relative = self.stats.tolist()
            logger.info(
                "pat verify: %d decode steps, max |pat - triton| %.3g, max |triton| %.3g, "
                "max |pat - triton| / (1 + |triton|) %.3g",
                self.steps,
                gap,
                scale,
                relative,
            )
        else:
            self.stats.zero_()  # forget warmup and capture
        self.steps += 1

    def compare(self, out: torch.Tensor, ref: torch.Tensor) -> None:
        """Fold one layer's outputs (``out`` PAT's, ``ref`` triton's, both [B, ...]) into the
        stats, the step's requests only."""
        real = (torch.arange(out.shape[0], device=out.device) < self.rows)[:, None]
        ref = torch.where(real, ref.view_as(out).float(), 0.0)
        gap = torch.where(real, out.float() - ref, 0.0).abs()
        torch.maximum(self.stats[0], gap.amax(), out=self.stats[0])
        torch.maximum(self.stats[1], ref.abs().amax(), out=self.stats[1])
        torch.maximum(self.stats[2], (gap / (1 + ref.abs())).amax(), out=self.stats[2])
