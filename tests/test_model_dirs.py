"""Dummy model dirs: the generated tokenizer loads, round-trips ids and spells out any text."""

from __future__ import annotations

import json

import pytest

from sglang_pat.model_dirs import SHAPES, make_model_dir

transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_tokenizer_round_trips_ids_and_keeps_text_apart(tmp_path, shape: str) -> None:
    path = make_model_dir(tmp_path / shape, shape)
    config = json.loads((path / "config.json").read_text())
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
    assert len(tokenizer) == config["vocab_size"]
    assert tokenizer.bos_token_id == config["bos_token_id"]
    assert tokenizer.eos_token_id == config["eos_token_id"]
    ids = [5, 17, 4096, 100000]
    text = tokenizer.decode(ids)
    assert tokenizer.encode(text, add_special_tokens=False) == ids
    # bench_serving's Mooncake replay writes each 512-token block as "{hash_id}hi hi ... hi":
    # blocks must stay distinct, and a shared leading block must give a shared token prefix.
    block = lambda h: f"{h}" + " ".join(["hi"] * 8)  # noqa: E731
    a = tokenizer.encode("user: " + block(0) + block(1), add_special_tokens=False)
    b = tokenizer.encode("user: " + block(0) + block(2), add_special_tokens=False)
    common = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    assert a != b and common >= len(tokenizer.encode("user: " + block(0))) - 1
    assert tokenizer.unk_token_id not in a
    with pytest.raises(ValueError, match="shape"):
        make_model_dir(tmp_path / "x", "gpt-5")


def test_chat_template_renders_turns(tmp_path) -> None:
    """Chat endpoints (bench_serving's multi-turn runs) need a template in the tokenizer."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(make_model_dir(tmp_path / "m")))
    messages = [
        {"role": "user", "content": "w1 w2"},
        {"role": "assistant", "content": "w3"},
        {"role": "user", "content": "w4"},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == "user: w1 w2\nassistant: w3\nuser: w4\nassistant: "
