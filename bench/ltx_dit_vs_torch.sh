#!/usr/bin/env bash
# LTX-Video DiT forward, small config: Lattice on the Vulkan device vs PyTorch on the CPU (bench/dit_vs_torch.sh).
# usage: bench/ltx_dit_vs_torch.sh [BUILD_DIR]   (needs python3-torch: apt-get install python3-torch)
exec "$(dirname "$0")/dit_vs_torch.sh" ltx "$@"
