"""tests/golden/torch_randn.safetensors: torch.randn drawn from torch.Generator("cpu").manual_seed(seed), as
diffusers' pipelines draw their starting latents, for nodes/models/torch_generator.h's test. For each seed,
size and dtype two successive draws from one generator (`first`, `second`: the stream continues), stored as
float32 (exact for bfloat16 and float16). Run with Debian's PyTorch: /usr/bin/python3 tools/torch_randn_fixture.py"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import golden_io  # noqa: E402

SEEDS = [0, 42, 2**40 + 7]
SIZES = [1, 5, 15, 16, 17, 40, 768, 1000]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def main():
    torch.set_num_threads(1)
    tensors = {}
    for seed in SEEDS:
        for n in SIZES:
            for name, dtype in DTYPES.items():
                g = torch.Generator().manual_seed(seed)
                for draw in ("first", "second"):
                    tensors[f"output.{seed}.{n}.{name}.{draw}"] = torch.randn(n, generator=g, dtype=dtype).float()
    meta = {"class": "torch.randn", "torch": torch.__version__,
            "cpu_capability": torch.__config__.show().split("CPU capability usage: ")[1].split("\n")[0],
            "seeds": ",".join(map(str, SEEDS)), "sizes": ",".join(map(str, SIZES))}
    out = os.path.join(os.path.dirname(__file__), "..", "tests", "golden", "torch_randn.safetensors")
    golden_io.write(out, tensors, meta)
    print(out, len(tensors), "tensors", meta)


if __name__ == "__main__":
    main()
