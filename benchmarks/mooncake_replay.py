"""``python -m sglang.bench_serving`` with its Mooncake trace replay repaired (SGLang 0.5.17).

    python benchmarks/mooncake_replay.py --dataset-name mooncake --dataset-path TRACE ...

In 0.5.17 the Mooncake dataset loads the trace as plain dicts, but ``benchmark()`` reads
``input_requests[0].prompt`` and ``calculate_metrics`` reads ``input_requests[i].prompt_len``,
so every ``--dataset-name mooncake`` run dies with ``AttributeError: 'dict' object has no
attribute 'prompt'``. Here each trace record stays the dict the replay expects, and also
carries those attributes: ``prompt`` is None (not multi-turn) and ``prompt_len`` is the token
count of the round-1 prompt the replay sends for it. Everything else is bench_serving's own.
"""

from __future__ import annotations

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


def round_one_prompt(record: dict, tokenizer) -> str:
    """The text ``get_mooncake_request_over_time`` sends for a record's first round."""
    base = "".join(f"{h}" + " ".join(["hi"] * 128) for h in record.get("hash_ids", []))
    base += "Tell me a story based on this context."
    chat = [{"role": "user", "content": f"Round 1: {base}"}]
    try:
        return tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=True, return_dict=False
        )
    except Exception:  # as the replay: no chat template, role-prefixed lines
        return "\n".join(f"{m['role']}: {m['content']}" for m in chat)


_load = MooncakeDataset.load


def load(self: MooncakeDataset, tokenizer=None, model_id=None) -> list[TraceRecord]:
    records = _load(self, tokenizer=tokenizer, model_id=model_id)
    return [TraceRecord(r, len(tokenizer.encode(round_one_prompt(r, tokenizer)))) for r in records]


def main() -> None:
    if any(arg.startswith("--mooncake-num-rounds") for arg in sys.argv):
        sys.exit("mooncake_replay: one round per session (outputs are matched to records)")
    MooncakeDataset.load = load
    cli_main()


if __name__ == "__main__":
    main()
