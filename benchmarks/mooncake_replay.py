"""``python -m sglang.bench_serving`` with its Mooncake trace replay repaired (SGLang 0.5.17).

    python benchmarks/mooncake_replay.py --dataset-name mooncake --dataset-path TRACE ...

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
"""

from __future__ import annotations

import dataclasses
import sys

from sglang.benchmark.datasets.mooncake import MooncakeDataset
from sglang.benchmark.serving import cli_main


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


def round_one_prompt(record: dict, tokenizer) -> str:
    """The text ``get_mooncake_request_over_time`` sends for a record's first round."""
    base = blocks_text(record, 128) + "Tell me a story based on this context."
    chat = [{"role": "user", "content": f"Round 1: {base}"}]
    try:
        return tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=True, return_dict=False
        )
    except Exception:  # as the replay: no chat template, role-prefixed lines
        return "\n".join(f"{m['role']}: {m['content']}" for m in chat)


def warmup_prompt_len(record: dict, tokenizer) -> int:
    """Tokens of bench_serving's warmup prompt built from ``record`` (512 words a block)."""
    text = blocks_text(record, 512) + "Can you tell me a detailed story in 1000 words?"
    return len(tokenizer.encode(text))


WARMUP_OUTPUT = 32  # bench_serving caps the warmup request's output at 32 tokens
UNKNOWN_CONTEXT = 10**7  # transformers' model_max_length when a tokenizer states none


def fitting_records(records: list[dict], tokenizer, count: int) -> tuple[list[TraceRecord], int]:
    """The first ``count`` records whose round-1 prompt plus output fit the model's context
    (all of them if the tokenizer states no context), the one to warm up with first; and how
    many records were skipped for not fitting. Raises ValueError if no warmup fits."""
    context = tokenizer.model_max_length
    kept: list[TraceRecord] = []
    skipped = 0
    for record in records:
        if len(kept) == count:
            break
        prompt_len = len(tokenizer.encode(round_one_prompt(record, tokenizer)))
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


_load = MooncakeDataset.load


def load(self: MooncakeDataset, tokenizer=None, model_id=None) -> list[TraceRecord]:
    everything = dataclasses.replace(self, num_requests=None)  # [:None]: the whole trace
    records, skipped = fitting_records(
        _load(everything, tokenizer=tokenizer, model_id=model_id), tokenizer, self.num_requests
    )
    print(
        f"mooncake_replay: kept {len(records)} records, skipped {skipped} whose prompt and "
        f"output do not fit the model's context ({tokenizer.model_max_length} tokens)",
        flush=True,
    )
    return records


def main() -> None:
    if any(arg.startswith("--mooncake-num-rounds") for arg in sys.argv):
        sys.exit("mooncake_replay: one round per session (outputs are matched to records)")
    MooncakeDataset.load = load
    cli_main()


if __name__ == "__main__":
    main()
