"""Register hazards of asynchronous wgmma in sm90 SASS, read as text (nvdisasm's output).

An HGMMA that takes its A operand from registers reads them while in flight. PTX leaves a
write to those registers before the ``wgmma.wait_group`` that covers it undefined, and ptxas
does not keep them reserved unless the wait names them (``warpgroup_mma_wait``'s ``deps``):
session 73's sm90 shared part got garbage P·V outputs that way. ``a_operand_hazards`` finds,
along every path from each such HGMMA to the next full wait (``WARPGROUP.DEPBAR.LE gsb0,
0x0``), following branches and loop back edges, the first instruction that writes one of its
A registers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_INSTRUCTION = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
_LABEL = re.compile(r"^\s*(\.L_x_\d+):")
_REGISTER_A_HGMMA = re.compile(r"HGMMA\.64x(\d+)x\d+\S*\s+R(\d+),\s*R(\d+),\s*gdesc")
_BRANCH = re.compile(r"BRA\s+`\((\.L_x_\d+)\)")
_FULL_WAIT = re.compile(r"WARPGROUP\.DEPBAR\.LE\s+gsb0,\s*0x0\b")
# opcodes whose first operand is not a register they write
_NO_DESTINATION = (
    "ST", "BRA", "BAR", "SYNCS", "WARPGROUP", "LDGSTS", "ARRIVES", "EXIT", "MEMBAR", "DEPBAR",
    "RED", "FENCE", "NOP", "WARPSYNC", "USETMAXREG", "CCTL", "ERRBAR", "RET", "CALL", "LDGDEPBAR",
)  # fmt: skip
A_REGISTERS = 4  # a 64 × 16 A fragment of 16-bit values: 8 a thread, two a register


@dataclass(frozen=True)
class Hazard:
    hgmma: str  # the HGMMA, as nvdisasm prints it
    writer: str  # the instruction that writes one of its A registers before the wait


def _written_registers(instruction: str) -> range:
    """The general registers an instruction writes (none for stores, branches, barriers)."""
    body = re.sub(r"^@!?U?P\w+\s+", "", instruction)
    opcode, _, operands = body.partition(" ")
    if opcode.startswith(_NO_DESTINATION) or not operands:
        return range(0)
    match = re.match(r"\s*R(\d+)\b", operands)
    if match is None:
        return range(0)
    first = int(match.group(1))
    if opcode.startswith("HGMMA"):  # its accumulators: N / 2 fp32 registers a thread
        columns = int(re.match(r"HGMMA\.64x(\d+)", opcode).group(1))
        return range(first, first + columns // 2)
    width = 4 if ".128" in opcode else 2 if (".64" in opcode or ".WIDE" in opcode) else 1
    return range(first, first + width)


def a_operand_hazards(sass: str) -> tuple[int, list[Hazard]]:
    """(how many register-A HGMMAs the SASS holds, the hazards found after them)."""
    instructions: list[str] = []
    labels: dict[str, int] = {}
    for line in sass.splitlines():
        if match := _LABEL.match(line):
            labels[match.group(1)] = len(instructions)
        elif match := _INSTRUCTION.match(line):
            instructions.append(match.group(2))
    hazards, count = [], 0
    for start, instruction in enumerate(instructions):
        match = _REGISTER_A_HGMMA.search(instruction)
        if match is None:
            continue
        count += 1
        first_a = int(match.group(3))
        a_registers = set(range(first_a, first_a + A_REGISTERS))
        pending, seen = [start + 1], set()
        while pending:
            index = pending.pop()
            if index in seen or index >= len(instructions):
                continue
            seen.add(index)
            current = instructions[index]
            if _FULL_WAIT.search(current):
                continue
            if a_registers.intersection(_written_registers(current)):
                hazards.append(Hazard(instruction, current))
                break
            if re.search(r"\bEXIT\b", current) and not current.startswith("@"):
                continue
            branch = _BRANCH.search(current)
            if branch is not None:
                pending.append(labels[branch.group(1)])
                if not current.startswith("@"):
                    continue  # unconditional: no fall-through
            pending.append(index + 1)
    return count, hazards
