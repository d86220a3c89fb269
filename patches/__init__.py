"""The overlay onto SGLang 0.5.17 (installed as ``sglang_pat.patches``)."""
