"""The serving comparison's workloads: SGLang ``bench_serving`` arguments for each, its full
batch, and its short warm pass (see bench_serving.py)."""

from __future__ import annotations

import dataclasses

# --warm-pass: prompts of the short first pass. It meets the kernels a workload needs beyond
# SGLang's one-request warmup: FlashInfer JIT-compiles prefill variants on first use (a 10 s
# stall in the first Mooncake conversation replay of 2026-11-30).
WARM_PROMPTS = 20


@dataclasses.dataclass(frozen=True)
class Workload:
    args: tuple[str, ...]
    batch: int  # requests decoding together once the batch is full
    warm_args: tuple[str, ...]  # the same workload with at most WARM_PROMPTS prompts
    dataset_file: str | None = None  # a Mooncake trace under --mooncake-dir
    client: str = "sglang"  # bench_serving's --backend; multi-turn needs a chat endpoint
    min_context: int = 0  # the model context its prompts need (0: the default model's)
    in_default_run: bool = True  # False: run only when named (--workloads)


def gsp(
    groups: int, per_group: int, system: int, concurrency: int, *extra: str, client: str = "sglang"
) -> Workload:
    def args(groups: int, per_group: int) -> tuple[str, ...]:
        return (
            *("--dataset-name", "generated-shared-prefix"),
            *("--gsp-num-groups", str(groups), "--gsp-prompts-per-group", str(per_group)),
            *("--gsp-system-prompt-len", str(system), "--gsp-question-len", "128"),
            *("--gsp-output-len", "256", "--max-concurrency", str(concurrency)),
            *("--num-prompts", str(groups * per_group), *extra),
        )

    # the dataset sends groups × prompts per group, whatever --num-prompts says: warm with one
    return Workload(
        args(groups, per_group),
        min(concurrency, groups * per_group),
        args(1, min(per_group, WARM_PROMPTS)),
        client=client,
    )


def random_ids(
    input_len: int, output_len: int, prompts: int, concurrency: int, in_default_run: bool = True
) -> Workload:
    def args(prompts: int) -> tuple[str, ...]:
        return (
            *("--dataset-name", "random-ids", "--random-input-len", str(input_len)),
            *("--random-output-len", str(output_len), "--random-range-ratio", "1.0"),
            *("--num-prompts", str(prompts), "--max-concurrency", str(concurrency)),
        )

    return Workload(
        args(prompts),
        min(concurrency, prompts),
        args(min(prompts, WARM_PROMPTS)),
        in_default_run=in_default_run,
    )


def mooncake(workload: str, prompts: int, slowdown: float, block_tokens: int = 0) -> Workload:
    """A trace replay; ``block_tokens`` writes each hash block that many tokens long (the
    trace's 512: prompts up to 121k tokens, so a model of 131,072 tokens' context)."""
    faithful = ("--pat-block-tokens", str(block_tokens)) if block_tokens else ()

    # --output-details: every request's inter-token gaps in the JSONL, for the paired
    # per-request comparison of two servers (tpot_paired.py).
    def args(prompts: int) -> tuple[str, ...]:
        return (
            *("--dataset-name", "mooncake", "--mooncake-workload", workload),
            *("--mooncake-slowdown-factor", str(slowdown), "--num-prompts", str(prompts)),
            *faithful,
            "--output-details",
        )

    return Workload(
        args(prompts),
        batch=0,  # arrivals set the batch: the figure is the median over all decode steps
        warm_args=args(min(prompts, WARM_PROMPTS)),
        dataset_file=f"{workload}_trace.jsonl",
        min_context=131072 if block_tokens else 0,
    )


WORKLOADS = {
    "gsp-4x32-4096": gsp(4, 32, 4096, 128),
    "gsp-64x16-2048": gsp(64, 16, 2048, 256),
    "gsp-multiturn-16x8-2048": gsp(
        16, 8, 2048, 128, "--gsp-num-turns", "3", client="sglang-oai-chat"
    ),
    "random-ids-2048-256": random_ids(2048, 256, 256, 128),
    "mooncake-conversation": mooncake("conversation", 100, 2.0),
    "mooncake-synthetic": mooncake("synthetic", 100, 2.0),
    # 512 tokens a hash block, as in the traces: --model-shape llama-3.1-8b
    "mooncake-conversation-512": mooncake("conversation", 100, 2.0, 512),
    "mooncake-synthetic-512": mooncake("synthetic", 100, 2.0, 512),
}
# Steady small batches of private requests, about the Mooncake replay's (3,000 tokens in,
# 512 out; two waves of n): pat's decode steps at 3-4 requests ran 5-6% over flashinfer's in
# session 30's replay, where the kernel benchmark has pat 1.5 us a layer behind. A fixed batch
# takes the replay's changing mix out of that comparison (experiments/server_profile).
WORKLOADS.update(
    (f"random-ids-{n}x3000", random_ids(3000, 512, 2 * n, n, in_default_run=False))
    for n in (1, 2, 3, 4, 8)
)
DEFAULT_WORKLOADS = [
    name for name, w in WORKLOADS.items() if w.in_default_run and not w.min_context
]
