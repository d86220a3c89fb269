"""Input checks of the PAT launchers: each raises ``ValueError`` naming the argument."""

from __future__ import annotations

import torch

from ..cost_model import TileMenu
from .pack_decode import ALL_ITEMS, PRIVATE_PART, SHARED_PART

PARTS = {"all": ALL_ITEMS.value, "shared": SHARED_PART.value, "private": PRIVATE_PART.value}

KV_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
HEAD_DIMS = (64, 128, 256)


def check_arg(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise ValueError(f"{name}: {message}")


def check_int32(tensor: torch.Tensor, name: str, device: torch.device) -> None:
    check_arg(tensor.dtype == torch.int32, name, f"must be int32, got {tensor.dtype}")
    check_arg(tensor.device == device, name, f"must be on {device}, got {tensor.device}")
    check_arg(tensor.is_contiguous(), name, "must be contiguous")


def kv_layout(buffer: torch.Tensor) -> tuple[int, int, int, int]:
    """(page_size, page stride, token stride, head stride) of a 3-D or 4-D KV buffer.

    ``[num_slots, kv_heads, head_dim]`` or ``[num_pages, page_size, kv_heads, head_dim]``,
    slot ``loc`` at page ``loc // page_size``, row ``loc % page_size`` (SGLang's layouts).
    """
    if buffer.dim() == 3:
        return 1, 0, buffer.stride(0), buffer.stride(1)
    return buffer.shape[1], buffer.stride(0), buffer.stride(1), buffer.stride(2)


def check_kv_buffer(buffer: torch.Tensor, name: str) -> None:
    check_arg(buffer.dtype in KV_DTYPES, name, f"dtype {buffer.dtype} is not fp16/bf16/fp32")
    check_arg(buffer.stride(-1) == 1, name, "the head_dim axis must be contiguous")
    check_arg(buffer.dim() in (3, 4), name, f"must be 3-D or 4-D, got {buffer.dim()}-D")


def check_pack_inputs(
    q: torch.Tensor,
    k_buffer: torch.Tensor,
    v_buffer: torch.Tensor,
    o: torch.Tensor,
    kv_indices: torch.Tensor,
    items: torch.Tensor,
    members: torch.Tensor,
    header: torch.Tensor,
    queue: torch.Tensor | None,
    partial_o: torch.Tensor,
    partial_lse: torch.Tensor,
    *,
    menu: TileMenu,
    num_programs: int,
    logit_cap: float,
    part: str = "all",
) -> None:
    """Raise ValueError naming the first argument of ``pack_decode`` that does not fit (a
    shared- or private-part launch needs ``menu.lean`` and a header of three entries).
    ``queue`` None: a launcher without the work queue (``launch_sm90.shared_part_sm90``)."""
    check_arg(part in PARTS, "part", f"must be one of {sorted(PARTS)}")
    check_arg(part == "all" or menu.lean is not None, "menu", f"has no lean kernel ({part})")
    device = q.device
    check_arg(q.dim() == 3, "q", f"must be [batch, q_heads, head_dim], got {tuple(q.shape)}")
    check_arg(q.stride(-1) == 1, "q", "the head_dim axis must be contiguous")
    check_kv_buffer(k_buffer, "k_buffer")
    check_kv_buffer(v_buffer, "v_buffer")
    check_arg(
        kv_layout(v_buffer)[0] == kv_layout(k_buffer)[0],
        "v_buffer",
        "page layout differs from k_buffer's",
    )
    check_arg(k_buffer.dtype == v_buffer.dtype, "v_buffer", "dtype differs from k_buffer's")
    for name, tensor in (("k_buffer", k_buffer), ("v_buffer", v_buffer), ("o", o)):
        check_arg(tensor.device == device, name, f"must be on {device}, got {tensor.device}")
    num_kv_heads, head_dim = k_buffer.shape[-2], k_buffer.shape[-1]
    v_dim = v_buffer.shape[-1]
    check_arg(head_dim in HEAD_DIMS, "k_buffer", f"head_dim {head_dim} not in {HEAD_DIMS}")
    check_arg(q.shape[2] == head_dim, "q", f"head_dim {q.shape[2]} != k_buffer's {head_dim}")
    check_arg(v_buffer.shape[-2] == num_kv_heads, "v_buffer", "kv_heads differ from k_buffer's")
    check_arg(
        q.shape[1] % num_kv_heads == 0,
        "q",
        f"{q.shape[1]} heads not a multiple of {num_kv_heads} KV heads",
    )
    group = q.shape[1] // num_kv_heads
    check_arg(group <= menu.tiles[-1].block_m, "menu", f"largest tile < GQA group {group}")
    expected = (q.shape[0], q.shape[1], v_dim)
    check_arg(tuple(o.shape) == expected, "o", f"must be {expected}, got {tuple(o.shape)}")
    check_arg(o.stride(-1) == 1, "o", "the head_dim axis must be contiguous")
    for name, tensor in (
        ("kv_indices", kv_indices),
        ("items", items),
        ("members", members),
        ("header", header),
        *([("queue", queue)] if queue is not None else []),
    ):
        check_int32(tensor, name, device)
    check_arg(items.dim() == 2 and items.shape[1] == 6, "items", "must be [capacity, 6]")
    check_arg(members.dim() == 2 and members.shape[1] == 4, "members", "must be [capacity, 4]")
    check_arg(queue is None or queue.numel() >= 1, "queue", "needs an int32 counter")
    needed = 1 if part == "all" else 3
    check_arg(header.numel() >= needed, "header", f"needs {needed} entries (see pack_decode)")
    for name, tensor in (("partial_o", partial_o), ("partial_lse", partial_lse)):
        check_arg(tensor.dtype == torch.float32, name, f"must be float32, got {tensor.dtype}")
        check_arg(tensor.device == device, name, f"must be on {device}, got {tensor.device}")
    check_arg(
        partial_o.dim() == 3 and tuple(partial_o.shape[1:]) == (q.shape[1], v_dim),
        "partial_o",
        f"must be [slots, {q.shape[1]}, {v_dim}]",
    )
    check_arg(partial_lse.shape == partial_o.shape[:2], "partial_lse", "must be [slots, q_heads]")
    check_arg(
        partial_o.stride(-1) == 1 and partial_lse.stride(-1) == 1,
        "partial_o",
        "last axes must be contiguous",
    )
    check_arg(num_programs >= 1, "num_programs", "must be positive")
    check_arg(logit_cap >= 0.0, "logit_cap", "must be non-negative")


def check_new_kv(
    new_kv: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    q: torch.Tensor,
    k_buffer: torch.Tensor,
    v_buffer: torch.Tensor,
) -> None:
    """Raise ValueError naming the first of ``(k_new, v_new, new_loc)`` that does not fit: the
    layer's new K/V ``[≥ B, kv_heads, dim]`` in the buffers' dtype and their slots ``[≥ B]``."""
    check_arg(len(new_kv) == 3, "new_kv", "must be (k_new, v_new, new_loc)")
    k_new, v_new, new_loc = new_kv
    batch, device = q.shape[0], q.device
    for name, tensor, buffer in (("k_new", k_new, k_buffer), ("v_new", v_new, v_buffer)):
        expected = tuple(buffer.shape[-2:])
        check_arg(
            tensor.dim() == 3 and tuple(tensor.shape[1:]) == expected and tensor.shape[0] >= batch,
            name,
            f"must be [>= {batch}, {expected[0]}, {expected[1]}], got {tuple(tensor.shape)}",
        )
        check_arg(tensor.dtype == buffer.dtype, name, f"dtype {tensor.dtype} != {buffer.dtype}")
        check_arg(tensor.device == device, name, f"must be on {device}, got {tensor.device}")
        check_arg(tensor.stride(-1) == 1, name, "the head_dim axis must be contiguous")
    check_arg(
        new_loc.dtype in (torch.int32, torch.int64),
        "new_loc",
        f"must be int32 or int64, not {new_loc.dtype}",
    )
    check_arg(
        new_loc.dim() == 1 and new_loc.shape[0] >= batch, "new_loc", f"must be [>= {batch}] slots"
    )
    check_arg(new_loc.device == device, "new_loc", f"must be on {device}, got {new_loc.device}")
    check_arg(new_loc.is_contiguous(), "new_loc", "must be contiguous")
