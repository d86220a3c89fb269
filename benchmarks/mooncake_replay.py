"""``python -m sglang.bench_serving`` with its Mooncake trace replay repaired (SGLang 0.5.17).

    python benchmarks/mooncake_replay.py --dataset-name mooncake --dataset-path TRACE ...
        [--pat-block-tokens 512]

In 0.5.17 the Mooncake dataset loads the trace as plain dicts, but ``benchmark()`` reads
``input_requests[0].prompt`` and ``calculate_metrics`` reads ``input_requests[i].prompt_len``,
so every ``--dataset-name mooncake`` run dies with ``AttributeError: 'dict' object has no
attribute 'prompt'``. Here each trace record stays the dict the replay expects, and also
carries those attributes: ``prompt`` is None (not multi-turn) and ``prompt_len`` is the token
count of the round-1 prompt the replay sends for it. Everything else is bench_serving's own.

The replay also keeps only records that the served model can take. A record whose prompt plus
output would not fit the model's context (the tokenizer's ``model_max_length``) is refused by
the server, and bench_serving still counts it as a successful request with no tokens. So the
first ``--num-prompts`` records that fit are kept, and the number skipped is printed. The
warmup request (bench_serving's own, four times the replay's text per block, built from the
first record) is taken from the first kept record whose warmup fits. The replay itself sorts
by timestamp, so this does not change the order.

bench_serving writes each 512-token hash block as ``{hash_id}`` and 128 words: about 130
tokens with Llama-3's tokenizer, 260 with the dummy one. ``--pat-block-tokens N`` (ours) writes
as many words as make a block N tokens long under the served tokenizer, and then replays with
our copy of bench_serving's request generator (the same arrival times, one round).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time

import sglang.benchmark.serving as serving
from sglang.benchmark.datasets.common import DatasetRow
from sglang.benchmark.datasets.mooncake import MooncakeDataset

BLOCK_WORDS = 128  # bench_serving's words per hash block
WARMUP_BLOCK_WORDS = 512  # ... and in its warmup request
WARMUP_OUTPUT = 32  # bench_serving caps the warmup request's output at 32 tokens
UNKNOWN_CONTEXT = 10**7  # transformers' model_max_length when a tokenizer states none


class TraceRecord(dict):
    """A Mooncake trace record with the DatasetRow attributes that bench_serving reads."""

    prompt = None
    vision_prompt_len = 0

    def __init__(self, record: dict, prompt_len: int) -> None:
        super().__init__(record)
        self.prompt_len = self.text_prompt_len = prompt_len


def blocks_text(record: dict, words_per_block: int) -> str:
    """Each 512-token hash block as ``{hash_id}hi hi ...``, as bench_serving writes them."""
    return "".join(f"{h}" + " ".join(["hi"] * words_per_block) for h in record.get("hash_ids", []))


def round_one_prompt(record: dict, tokenizer, words_per_block: int = BLOCK_WORDS) -> str:
    """The text ``get_mooncake_request_over_time`` sends for a record's first round."""
    base = blocks_text(record, words_per_block) + "Tell me a story based on this context."
    chat = [{"role": "user", "content": f"Round 1: {base}"}]
    try:
        return tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=True, return_dict=False
        )
    except Exception:  # as the replay: no chat template, role-prefixed lines
        return "\n".join(f"{m['role']}: {m['content']}" for m in chat)


def warmup_prompt_len(record: dict, tokenizer) -> int:
    """Tokens of bench_serving's warmup prompt built from ``record``."""
    text = blocks_text(record, WARMUP_BLOCK_WORDS)
    return len(tokenizer.encode(text + "Can you tell me a detailed story in 1000 words?"))


def block_words(tokenizer, block_tokens: int) -> int:
    """Words per hash block that make a block about ``block_tokens`` tokens long."""
    sample = blocks_text({"hash_ids": [123456]}, BLOCK_WORDS)
    tokens = len(tokenizer.encode(sample, add_special_tokens=False))
    return max(1, round(BLOCK_WORDS * block_tokens / tokens))


def fitting_records(
    records: list[dict], tokenizer, count: int, words_per_block: int = BLOCK_WORDS
) -> tuple[list[TraceRecord], int]:
    """The first ``count`` records whose round-1 prompt plus output fit the model's context
    (all of them if the tokenizer states no context), the one to warm up with first; and how
    many records were skipped for not fitting. Raises ValueError if no warmup fits."""
    context = tokenizer.model_max_length
    kept: list[TraceRecord] = []
    skipped = 0
    for record in records:
        if len(kept) == count:
            break
        prompt = round_one_prompt(record, tokenizer, words_per_block)
        prompt_len = len(tokenizer.encode(prompt))
        if context < UNKNOWN_CONTEXT and prompt_len + record.get("output_length", 256) >= context:
            skipped += 1
            continue
        kept.append(TraceRecord(record, prompt_len))
    if kept and context < UNKNOWN_CONTEXT:
        first = next(
            (
                i
                for i, r in enumerate(kept)
                if warmup_prompt_len(r, tokenizer) + WARMUP_OUTPUT < context
            ),
            None,
        )
        if first is None:
            raise ValueError(f"no kept record's warmup prompt fits the context of {context}")
        kept.insert(0, kept.pop(first))
    return kept, skipped


@dataclasses.dataclass
class Replay:
    """The trace loader and, with ``block_tokens``, the request generator of one replay."""

    block_tokens: int | None = None  # None: bench_serving's own blocks and generator

    def words(self, tokenizer) -> int:
        """Words per hash block under ``tokenizer``."""
        return block_words(tokenizer, self.block_tokens) if self.block_tokens else BLOCK_WORDS

    def load(self, dataset: MooncakeDataset, tokenizer, model_id=None) -> list[TraceRecord]:
        # SGLang downloads a missing trace; the device has no network, and a trace that
        # vanished mid-run (session 11) should fail as what it is.
        if not dataset.dataset_path or not os.path.isfile(dataset.dataset_path):
            raise FileNotFoundError(f"mooncake_replay: no trace at {dataset.dataset_path!r}")
        words = self.words(tokenizer)
        everything = dataclasses.replace(dataset, num_requests=None)  # [:None]: whole trace
        records, skipped = fitting_records(
            _load(everything, tokenizer=tokenizer, model_id=model_id),
            tokenizer,
            dataset.num_requests,
            words,
        )
        print(
            f"mooncake_replay: kept {len(records)} records, skipped {skipped} whose prompt and "
            f"output do not fit the model's context ({tokenizer.model_max_length} tokens); "
            f"{words} words a hash block",
            flush=True,
        )
        return records

    async def requests(self, input_requests, tokenizer, slowdown_factor: float, num_rounds: int):
        """bench_serving's ``get_mooncake_request_over_time`` for one round, with our blocks:
        each record is sent at its trace time × ``slowdown_factor`` from the first."""
        if not input_requests:
            return
        words = self.words(tokenizer)
        input_requests.sort(key=lambda r: r["timestamp"])
        start, first_ms = time.perf_counter(), input_requests[0]["timestamp"]
        for record in input_requests:
            due = (record["timestamp"] - first_ms) / 1000.0 * slowdown_factor
            delay = due - (time.perf_counter() - start)
            if delay > 0:
                await asyncio.sleep(delay)
            yield DatasetRow(
                prompt=round_one_prompt(record, tokenizer, words),
                prompt_len=record.prompt_len,
                output_len=record.get("output_length", 256),
            )


_load = MooncakeDataset.load


def main() -> None:
    args = sys.argv[1:]
    if any(arg.startswith("--mooncake-num-rounds") for arg in args):
        sys.exit("mooncake_replay: one round per session (outputs are matched to records)")
    replay = Replay()
    if "--pat-block-tokens" in args:
        at = args.index("--pat-block-tokens")
        replay.block_tokens = int(args[at + 1])
        del args[at : at + 2]
        serving.get_mooncake_request_over_time = replay.requests
    MooncakeDataset.load = lambda dataset, tokenizer=None, model_id=None: replay.load(
        dataset, tokenizer, model_id
    )
    sys.argv = [sys.argv[0], *args]
    serving.cli_main()


if __name__ == "__main__":
    main()
