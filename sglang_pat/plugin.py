"""SGLang plugin entry point (``sglang.srt.plugins``): SGLang's ``load_plugins()`` calls
``register`` in the launching process and in every scheduler process it spawns."""

from __future__ import annotations


def register() -> None:
    from sglang_pat.patches import apply

    apply()
