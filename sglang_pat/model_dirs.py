"""Dummy model directories (config + a locally generated tokenizer) for ``--load-format dummy``.

Nothing is downloaded: the config is written from the shape table and the tokenizer is
generated: one word per id (``w17``...), so every id the random weights emit decodes, and any
other word is spelled out in printable ASCII pieces (WordPiece, ``##`` continuations), so text
prompts such as bench_serving's Mooncake replay (``0hi hi ... 17hi hi``) keep their differences.

    python -m sglang_pat.model_dirs DIR [--shape llama-3-8b|llama-3.1-8b|qwen3-8b]

``llama-3.1-8b`` is Llama-3-8B with Llama 3.1's 131,072-token context (its rope scaling):
the shapes are the same, so it serves long prompts such as the Mooncake traces' (up to 121k
tokens at 512 a hash block).
"""

from __future__ import annotations

import argparse
import json
import string
from pathlib import Path

# Printable ASCII without whitespace: word-initial and ``##`` continuation pieces.
_CHARS = [c for c in string.printable if not c.isspace()]

SHAPES: dict[str, dict] = {
    "llama-3-8b": dict(
        architectures=["LlamaForCausalLM"],
        model_type="llama",
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        vocab_size=128256,
        max_position_embeddings=8192,
        rope_theta=500000.0,
        rms_norm_eps=1e-5,
        hidden_act="silu",
        tie_word_embeddings=False,
        bos_token_id=128000,
        eos_token_id=128001,
        torch_dtype="bfloat16",
    ),
    "qwen3-8b": dict(
        architectures=["Qwen3ForCausalLM"],
        model_type="qwen3",
        hidden_size=4096,
        intermediate_size=12288,
        num_hidden_layers=36,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        vocab_size=151936,
        max_position_embeddings=40960,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        hidden_act="silu",
        tie_word_embeddings=False,
        bos_token_id=151643,
        eos_token_id=151645,
        torch_dtype="bfloat16",
    ),
}

SHAPES["llama-3.1-8b"] = dict(
    SHAPES["llama-3-8b"],
    max_position_embeddings=131072,
    rope_scaling=dict(
        rope_type="llama3",
        factor=8.0,
        low_freq_factor=1.0,
        high_freq_factor=4.0,
        original_max_position_embeddings=8192,
    ),
)


# Role-prefixed turns, so the chat endpoints (and bench_serving's multi-turn runs) work.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def make_model_dir(path: str | Path, shape: str = "llama-3-8b") -> Path:
    """Write ``config.json`` and tokenizer files for ``shape`` into ``path`` (idempotent)."""
    if shape not in SHAPES:
        raise ValueError(f"shape {shape!r} is not one of {sorted(SHAPES)}")
    config = SHAPES[shape]
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    bos, eos = config["bos_token_id"], config["eos_token_id"]
    specials = {bos: "<|begin_of_text|>", eos: "<|end_of_text|>"}
    vocab_size = config["vocab_size"]
    pieces = _CHARS + ["##" + c for c in _CHARS]
    piece_ids = [i for i in range(vocab_size - 1, -1, -1) if i not in specials][: len(pieces)]
    names = {**{i: f"w{i}" for i in range(vocab_size)}, **specials}
    names.update(zip(piece_ids, pieces))
    vocab = {name: i for i, name in names.items()}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            dict(
                id=i,
                content=text,
                single_word=False,
                lstrip=False,
                rstrip=False,
                normalized=False,
                special=True,
            )
            for i, text in specials.items()
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": None,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": False},
        "model": {
            "type": "WordPiece",
            "unk_token": "w0",
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 10000,
            "vocab": vocab,
        },
    }
    (path / "tokenizer.json").write_text(json.dumps(tokenizer))
    (path / "tokenizer_config.json").write_text(
        json.dumps(
            dict(
                tokenizer_class="PreTrainedTokenizerFast",
                bos_token=specials[bos],
                eos_token=specials[eos],
                unk_token="w0",
                model_max_length=config["max_position_embeddings"],
                chat_template=CHAT_TEMPLATE,
            ),
            indent=2,
        )
        + "\n"
    )
    (path / "generation_config.json").write_text(
        json.dumps(
            dict(
                bos_token_id=bos,
                eos_token_id=eos,
                do_sample=False,
            ),
            indent=2,
        )
        + "\n"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a dummy model dir for --load-format dummy")
    parser.add_argument("path")
    parser.add_argument("--shape", default="llama-3-8b", choices=sorted(SHAPES))
    args = parser.parse_args()
    print(make_model_dir(args.path, args.shape))


if __name__ == "__main__":
    main()
