"""What this CPU gives torch: fp32 vs bf16 matrix-product GFLOP/s at the teacher's shapes (rows x 896 @ 896 x 4864).

Run: .venv/bin/python bench/matmul.py. Writes bench/results/matmul.json. bf16 pays only where the CPU has AMX or
AVX512-BF16 (mm.hf_generate.bf16_is_fast decides the teacher engine's dtype from the same CPU flags).
"""
from __future__ import annotations

import time

import record
import torch

from mm.hf_generate import bf16_is_fast

SHAPE = (896, 4864)  # Qwen2.5-0.5B hidden size x MLP width


def gflops(rows: int, dtype: torch.dtype, repeats: int = 5) -> float:
    a, b = torch.randn(rows, SHAPE[0], dtype=dtype), torch.randn(*SHAPE, dtype=dtype)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * rows * SHAPE[0] * SHAPE[1] * repeats / (time.perf_counter() - started) / 1e9


def main() -> dict:
    result = {"threads": torch.get_num_threads(), "bf16_is_fast": bf16_is_fast(),
              "gflops": {f"{str(dtype).removeprefix('torch.')}@{rows}": round(gflops(rows, dtype), 1)
                         for dtype in (torch.float32, torch.bfloat16) for rows in (1, 32, 128, 900)}}
    return record.save(result, "matmul")


if __name__ == "__main__":
    main()
