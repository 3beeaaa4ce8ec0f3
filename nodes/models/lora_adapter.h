#pragma once
/// The adapter formats of LoRA files, read module by module into the change each module makes to its layer
/// (nodes/models/weight_patch.h), before any key mapping (nodes/models/lora.h maps module names onto a model).
///
/// A module is a key stem shared by tensors whose last part says their role. Formats, with strength s:
///  - LoRA: `.lora_A.weight`/`.lora_B.weight` (also `.lora_down`/`.lora_up.weight`, `.lora.down`/`.lora.up.weight`),
///    ΔW = s·(alpha/rank)·up·down, rank = down's first dimension;
///  - LyCORIS LoHa: `.hada_w1_a`, `.hada_w1_b`, `.hada_w2_a`, `.hada_w2_b`,
///    ΔW = s·(alpha/rank)·(w1_a·w1_b) ⊙ (w2_a·w2_b), rank = w1_b's first dimension;
///  - LyCORIS LoKr: `.lokr_w1` or `.lokr_w1_a`/`.lokr_w1_b`, and `.lokr_w2` or `.lokr_w2_a`/`.lokr_w2_b`,
///    ΔW = s·(alpha/rank)·kron(w1, w2), rank = w2_b's first dimension when w2 is a product, else w1_b's when w1
///    is, and alpha/rank = 1 when both are full (as ComfyUI and LyCORIS merge them);
///  - full differences: `.diff` (ΔW = s·diff, any tensor of the layer's shape; LyCORIS `.w_norm` the same);
///  - bias changes: `.diff_b` (Δb = s·diff_b; LyCORIS `.b_norm` the same) and PEFT's `.lora_B.bias`
///    (also `.lora_up.bias`), Δb = s·(alpha/rank)·bias with the module's LoRA rank.
/// `.alpha` is a scalar; without it alpha/rank = 1 (a full difference ignores it, as ComfyUI does). Factors with more
/// than two dimensions (convolutions) are read as matrices [first dimension, the rest], which is what the flattened
/// kernel of the layer they change is.
///
/// Tucker factors (LyCORIS `use_tucker`, made only for convolutions whose kernel is larger than 1: in the models
/// here, Wan's patch embedding) put the kernel into a core t [rank, rank, k...] and are merged through it:
///  - LoCon `.lora_mid.weight`: ΔW[o, i, k] = Σ up[o, m]·mid[m, n, k]·down[n, i] (up and down 1×1);
///  - LoHa `.hada_t1`/`.hada_t2`: w = Σ w_a[p, o]·t[p, q, k]·w_b[q, i] for each product (w_a is then [rank, out]);
///  - LoKr `.lokr_t2`: w2 likewise from `.lokr_w2_a`/`.lokr_w2_b`;
/// the ranks alpha divides are those without the core (down's, w1_b's, w2_b's first dimension).
///
/// DoRA (`.dora_scale`, PEFT `.lora_magnitude_vector[.weight]`) beside LoRA, LoHa or LoKr factors makes the patch a
/// weight decomposition (nodes/models/weight_patch.h): the factors' scale is alpha/rank and the strength moves the
/// layer from W towards the decomposed weight, as ComfyUI's `weight_decompose` applies it (LyCORIS' own merge
/// instead scales m/‖V‖ − 1 by the strength; the two agree at strength 1). LyCORIS' `.wd_for_diff` marker
/// (the magnitude decomposes ΔW alone) is refused.
///
/// Refused with Error(InvalidInput) naming file and key: a Tucker core or a DoRA magnitude without the factors it
/// belongs to, `.wd_for_diff`, a core of the wrong shape, a module mixing formats, a missing or twice given piece, factors whose
/// inner dimensions disagree, a non-scalar alpha, and any tensor of no known role.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nodes/models/weight_patch.h"
#include "nodes/models/weights.h"

namespace lattice {

/// One module of a LoRA file: its tensor keys by role ("lora_up", "hada_w1_a", "diff_b", ...).
struct AdapterModule {
  std::map<std::string, std::string> keys;
};

/// The file's modules by name; a tensor of no known role is Error(InvalidInput) naming it. Keys for which `skip`
/// (if given) is true are left out (tensors a model's mapping handles itself, e.g. FLUX control LoRAs' norm scales);
/// a file with neither modules nor such keys is Error(InvalidInput).
std::map<std::string, AdapterModule> read_adapter_modules(const WeightSource& file,
                                                          const std::function<bool(const std::string&)>& skip = {});

/// The change one module makes, with no target yet (row_offset 0): `weight` to the layer's weight, `bias` to its
/// bias (a Product patch with a dense [rows] up); either may be absent, not both. `what` describes the factors'
/// shapes for messages, e.g. "up [12, 2] and down [2, 8]".
struct AdapterDelta {
  std::optional<WeightPatch> weight, bias;
  bool full = false;  ///< `weight` is a full difference (any tensor), not factors of a matrix
  std::string what;
  std::string dora_key;  ///< the key of the DoRA magnitude, when `weight` has one
};

/// "'a', 'b', 'c' and 2 more": the first `n` names, quoted, for messages.
std::string quoted_list(const std::vector<std::string>& names, size_t n = 5);

/// Reads and checks the factors of module `name`; scales include the strength and alpha/rank.
AdapterDelta read_adapter_delta(const WeightSource& file, const std::string& name, const AdapterModule& m, float strength);

}  // namespace lattice
