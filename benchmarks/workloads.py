"""Benchmark batches: PAT's tree suite, the worked example, batches cut from Mooncake traces."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sglang_pat.forest import PrefixForest

MOONCAKE = Path(
    os.environ.get("PAT_MOONCAKE_DIR", Path(__file__).resolve().parents[2] / "shared/data/mooncake")
)
MOONCAKE_BLOCK = 512

# PAT's suite (pat-reference.md). Its several-root shapes leave node sizes open ("_*"); we use
# 256/128/64/32-token levels, the deeper shapes' stated 32-256-token range.
TREE_SUITE = [
    "1,10_4096,416",
    "1,256_256,32",
    "1,1024_2048,32",
    "1,2,64_1024,256,256",
    "1,4,256_32,256,32",
    "1,8,512_32,512,256",
    "1,8,512_32,2048,256",
    "1,8,512_512,512,256",
    "1,4,8,256_32,256,256,32",
    "1,4,16,512_1024,256,128,32",
    "2,8,16,256_256,128,64,32",
    "4,16,256,512_256,128,64,32",
    "8,16,32,256_256,128,64,32",
    "256_1024",
    "256_4096",
]
WORKED_EXAMPLE = "1,64_4096,512"
WIDE_FANOUT = "1,256_2048,32"
ACCEPTANCE_EXTRA = ["1,128_4096,384", "64_4096"]
NO_SHARING = ["64_4096", "256_1024", "256_4096"]
# The batches bench_serving.py's gsp servers decode (benchmarks/experiments/server_profile/):
# gsp 4 x 32 holds its 4 prefixes of 32 requests (128 + ~128 private tokens each); gsp defaults
# shuffles 64 x 16 prompts, so its 256 running requests hold ~60 prefixes of ~4 requests,
# early in the decode (128 + 50) and halfway (128 + 128). Not the 16 x 16 tree it looks like,
# and not 64 groups of exactly 4 either: the shuffled draws (gsp_sample_workload) hold groups
# of 1 to ~10, on which the lean gate chose differently (session 24).
# The Mooncake replay's batches of 3-4 requests share its ~260-token first block (every prompt
# starts with hash block 0); 256 here, as the page table needs whole 16-token pages. Their
# steps ran 5-6% over flashinfer's in sessions 30 and 37, before 978909e's chunk classes.
SERVED_BATCHES = [
    "4,128_4096,256",
    "64,256_2048,178",
    "64,256_2048,256",
    "gsp:64x16:2048+178:b256:s0",
    "gsp:64x16:2048+256:b256:s0",
    "1,3_256,3000",
    "1,4_256,3000",
]
GSP_SAMPLE = re.compile(r"gsp:(\d+)x(\d+):(\d+)\+(\d+):b(\d+):s(\d+)")
MOONCAKE_SAMPLE = re.compile(r"mooncake:(conversation|synthetic):(\d+)x(\d+)")
SHARED_LENGTHS = re.compile(r"shared:(\d+):(\d+(?:,\d+)*)")


@dataclass
class Workload:
    name: str
    forest: PrefixForest
    cascade_levels: list[int] | None  # requests per node on each level (level-synchronous trees)


def tree_workload(spec: str) -> Workload:
    counts = [int(x) for x in spec.split("_")[0].split(",")]
    batch = counts[-1]
    shared = [batch // c for c in counts[:-1] if batch // c >= 2]
    return Workload(spec, PrefixForest.from_tree_spec(spec), shared + [1])


def gsp_sample_workload(spec: str) -> Workload:
    """``gsp:GxP:PREFIX+TAIL:bB:sSEED``, the batch a server decodes under bench_serving's
    generated-shared-prefix workload: G groups of P prompts, shuffled as bench_serving does
    (seeded here), the first B of them running. Each request holds its group's PREFIX tokens
    (shared only if another running request is of its group) and TAIL tokens of its own
    (question and the tokens decoded so far; the same for all, since every prompt has the same
    output length and the batch starts together). E.g. ``gsp:64x16:2048+178:b256:s0``: unlike
    the uniform ``64,256_2048,178``, groups hold 1 to ~10 running requests."""
    match = GSP_SAMPLE.fullmatch(spec)
    if match is None:
        raise ValueError(f"workload {spec!r}: expected gsp:GxP:PREFIX+TAIL:bB:sSEED")
    groups, per_group, prefix, tail, batch, seed = (int(x) for x in match.groups())
    if not 1 <= batch <= groups * per_group or min(groups, per_group, prefix, tail) < 1:
        raise ValueError(f"workload {spec!r}: needs 1 <= B <= G * P and positive sizes")
    prompts = np.repeat(np.arange(groups), per_group)
    np.random.default_rng(seed).shuffle(prompts)
    group = prompts[:batch]
    members = np.bincount(group, minlength=groups)
    shared = (members >= 2).nonzero()[0]
    node_of = np.full(groups, -1)
    node_of[shared] = np.arange(shared.shape[0])
    first_member = np.full(groups, batch)
    np.minimum.at(first_member, group, np.arange(batch))
    forest = PrefixForest(
        np.zeros(shared.shape[0], dtype=np.int64),
        np.full(shared.shape[0], prefix),
        np.full(shared.shape[0], -1),
        first_member[shared],
        node_of[group],
        np.full(batch, prefix + tail),
    )
    return Workload(spec, forest, None)


def workload_for(spec: str) -> Workload:
    """A tree spec (``tree_workload``), a shuffled gsp batch (``gsp_sample_workload``),
    ``mooncake:TRACE:STARTxBATCH`` (``mooncake_workload``) or ``shared:P:L1,L2,...``
    (``shared_prefix_workload``)."""
    if spec.startswith("gsp:"):
        return gsp_sample_workload(spec)
    if spec.startswith("shared:"):
        match = SHARED_LENGTHS.fullmatch(spec)
        if match is None:
            raise ValueError(f"workload {spec!r}: expected shared:PREFIX:LEN,LEN,...")
        return shared_prefix_workload(int(match[1]), [int(n) for n in match[2].split(",")])
    if spec.startswith("mooncake:"):
        match = MOONCAKE_SAMPLE.fullmatch(spec)
        if match is None:
            raise ValueError(f"workload {spec!r}: expected mooncake:TRACE:STARTxBATCH")
        return mooncake_workload(match[1], int(match[2]), int(match[3]))
    return tree_workload(spec)


def shared_prefix_workload(prefix: int, lengths: list[int]) -> Workload:
    """Requests of the given KV lengths, all sharing their first ``prefix`` tokens: a batch as
    a server ran it (``experiments/replay_timeline``: the Mooncake replay's prompts all start
    with one ~260-token block; the benchmarks' page table wants 16-token multiples)."""
    if len(lengths) < 2 or prefix < 1 or min(lengths) <= prefix:
        raise ValueError(
            f"shared:{prefix}:...: need two or more requests, each longer than the prefix"
        )
    forest = PrefixForest([0], [prefix], [-1], [0], [0] * len(lengths), lengths)
    return Workload(f"shared-{prefix}-x{len(lengths)}", forest, None)


def mooncake_workload(
    trace: str, start: int, batch: int, decoded_fraction: float = 0.5
) -> Workload:
    """``batch`` consecutive requests of a trace, each ``decoded_fraction`` through its output.

    Requests share whole 512-token blocks with equal leading hash ids; a prompt's last block may
    be partial, so it never counts as shared.
    """
    lines = (MOONCAKE / f"{trace}_trace.jsonl").read_text().splitlines()[start : start + batch]
    rows = [json.loads(line) for line in lines]
    full_blocks = [r["hash_ids"][: r["input_length"] // MOONCAKE_BLOCK] for r in rows]
    blocks = PrefixForest.from_token_ids([b + [-1 - i] for i, b in enumerate(full_blocks)])
    seq_lens = [
        r["input_length"] + max(1, int(r["output_length"] * decoded_fraction)) for r in rows
    ]
    forest = PrefixForest(
        blocks.node_start * MOONCAKE_BLOCK,
        blocks.node_end * MOONCAKE_BLOCK,
        blocks.node_parent,
        blocks.node_rep,
        blocks.req_node,
        seq_lens,
    )
    return Workload(f"mooncake-{trace}@{start}x{batch}", forest, None)


def radix_cache_holding(
    prompts: list[list[int]], page_size: int = 1, inserted: list[list[int]] | None = None
):
    """A simulated SGLang RadixCache holding ``inserted`` (default: the prompts, in order) and
    each prompt's last node in it: the tree a decode batch of these prompts walks."""
    from array import array

    from sglang.srt.mem_cache import base_prefix_cache as base
    from sglang.srt.mem_cache import radix_cache

    cache = radix_cache.RadixCache.create_simulated(page_size=page_size)
    key = lambda tokens: radix_cache.RadixKey(array("q", tokens))  # noqa: E731
    for tokens in prompts if inserted is None else inserted:
        cache.insert(base.InsertParams(key=key(tokens)))
    last_nodes = [
        cache.match_prefix(base.MatchPrefixParams(key=key(tokens))).last_device_node
        for tokens in prompts
    ]
    return cache, last_nodes


def page_table(forest: PrefixForest, page_size: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """``[B, max_pages]`` shuffled page ids; members of a shared node share its pages."""
    if np.any(forest.node_end % page_size):
        raise ValueError("shared node boundaries must be page-aligned")
    rng = np.random.default_rng(seed)
    node_pages = []
    next_page = 0
    for start, end in zip(forest.node_start.tolist(), forest.node_end.tolist()):
        count = (end - start) // page_size
        node_pages.append(np.arange(next_page, next_page + count))
        next_page += count
    pages_per_req = -(-forest.seq_lens // page_size)
    table = np.zeros((forest.num_requests, int(pages_per_req.max())), dtype=np.int64)
    shared_end = forest.private_start()
    for r in range(forest.num_requests):
        path = []
        node = int(forest.req_node[r])
        while node >= 0:
            path.append(node_pages[node])
            node = int(forest.node_parent[node])
        shared = np.concatenate(path[::-1]) if path else np.zeros(0, dtype=np.int64)
        private = int(pages_per_req[r] - shared_end[r] // page_size)
        table[r, : shared.shape[0]] = shared
        table[r, shared.shape[0] : pages_per_req[r]] = np.arange(next_page, next_page + private)
        next_page += private
    shuffle = rng.permutation(next_page) + 1  # page 0 stays unused, as SGLang's slot 0
    return shuffle[table], next_page + 1
