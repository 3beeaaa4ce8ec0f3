#include "nodes/models/lora.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "nodes/models/lora_adapter.h"
#include "nodes/models/ltx/config.h"
#include "nodes/models/wan/checkpoint.h"

namespace lattice {
namespace {

// A BFL module and the diffusers matrices it covers (rows in this order).
struct BflModule {
  const char* bfl;
  std::vector<const char*> targets;
  bool swap_halves = false;
};

const std::vector<BflModule>& double_block_modules() {
  static const std::vector<BflModule> m = {
      {"img_attn.qkv", {"attn.to_q", "attn.to_k", "attn.to_v"}},
      {"img_attn.proj", {"attn.to_out.0"}},
      {"img_mlp.0", {"ff.net.0.proj"}},
      {"img_mlp.2", {"ff.net.2"}},
      {"img_mod.lin", {"norm1.linear"}},
      {"txt_attn.qkv", {"attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"}},
      {"txt_attn.proj", {"attn.to_add_out"}},
      {"txt_mlp.0", {"ff_context.net.0.proj"}},
      {"txt_mlp.2", {"ff_context.net.2"}},
      {"txt_mod.lin", {"norm1_context.linear"}},
      {"img_attn.norm.query_norm.scale", {"attn.norm_q"}},
      {"img_attn.norm.key_norm.scale", {"attn.norm_k"}},
      {"txt_attn.norm.query_norm.scale", {"attn.norm_added_q"}},
      {"txt_attn.norm.key_norm.scale", {"attn.norm_added_k"}},
  };
  return m;
}
const std::vector<BflModule>& single_block_modules() {
  static const std::vector<BflModule> m = {
      {"linear1", {"attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"}},
      {"linear2", {"proj_out"}},
      {"modulation.lin", {"norm.linear"}},
      {"norm.query_norm.scale", {"attn.norm_q"}},
      {"norm.key_norm.scale", {"attn.norm_k"}},
  };
  return m;
}
const std::vector<BflModule>& top_modules() {
  static const std::vector<BflModule> m = {
      {"img_in", {"x_embedder"}},
      {"txt_in", {"context_embedder"}},
      {"time_in.in_layer", {"time_text_embed.timestep_embedder.linear_1"}},
      {"time_in.out_layer", {"time_text_embed.timestep_embedder.linear_2"}},
      {"vector_in.in_layer", {"time_text_embed.text_embedder.linear_1"}},
      {"vector_in.out_layer", {"time_text_embed.text_embedder.linear_2"}},
      {"guidance_in.in_layer", {"time_text_embed.guidance_embedder.linear_1"}},
      {"guidance_in.out_layer", {"time_text_embed.guidance_embedder.linear_2"}},
      {"final_layer.linear", {"proj_out"}},
      {"final_layer.adaLN_modulation.1", {"norm_out.linear"}, true},
  };
  return m;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string underscores(std::string s) {
  for (char& c : s)
    if (c == '.') c = '_';
  return s;
}

// The model tensors one LoRA module changes: the weights (rows in this order), whose biases are `<stem>.bias`.
struct Targets {
  std::vector<std::string> weights;  // checkpoint names, "x.weight" or a bare parameter ("scale_shift_table")
  bool swap_halves = false;
};

// A BFL module path (dotted, or with underscores for kohya) -> diffusers targets.
std::optional<Targets> from_bfl(const std::string& module, bool kohya) {
  auto match = [&](const std::vector<BflModule>& table, const std::string& rest, const std::string& prefix) -> std::optional<Targets> {
    for (const auto& m : table)
      if (rest == (kohya ? underscores(m.bfl) : std::string(m.bfl))) {
        Targets t;
        for (const char* n : m.targets) t.weights.push_back(prefix + n + ".weight");
        t.swap_halves = m.swap_halves;
        return t;
      }
    return std::nullopt;
  };
  const char sep = kohya ? '_' : '.';
  for (const auto& [bfl, diffusers, table] :
       {std::tuple{"double_blocks", "transformer_blocks.", &double_block_modules()},
        std::tuple{"single_blocks", "single_transformer_blocks.", &single_block_modules()}}) {
    const std::string head = std::string(bfl) + sep;
    if (!starts_with(module, head)) continue;
    const size_t end = module.find(sep, head.size());
    if (end == std::string::npos || end == head.size()) return std::nullopt;
    const std::string index = module.substr(head.size(), end - head.size());
    if (index.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    return match(*table, module.substr(end + 1), std::string(diffusers) + index + ".");
  }
  return match(top_modules(), module, "");
}

using Mapper = std::function<std::optional<Targets>(const std::string& module)>;

// FLUX: kohya and BFL names through the BFL tables, else the model's own (diffusers) names.
std::optional<Targets> flux_targets(const std::string& module, const Mapper& by_name) {
  if (starts_with(module, "lora_unet_"))
    if (auto t = from_bfl(module.substr(10), true)) return t;
  for (const char* p : {"model.diffusion_model.", "diffusion_model.", ""})
    if (starts_with(module, p))
      if (auto t = from_bfl(module.substr(std::strlen(p)), false)) return t;
  return by_name(module);
}

std::string shape_text(const std::vector<int64_t>& shape) { return HostTensor{DType::F32, shape, {}}.shape_string(); }

// Rows (o + offset) mod R, o < n, of t read as a matrix [R, cols], as f32 [n, cols].
HostTensor take_rows(const HostTensor& t, int64_t offset, int64_t n) {
  const auto [total, cols] = matrix_view(t.shape);
  const std::vector<float> v = t.to_f32();
  std::vector<float> out(static_cast<size_t>(n * cols));
  for (int64_t o = 0; o < n; ++o) {
    const int64_t src = (o + offset) % total;
    std::copy_n(v.begin() + src * cols, cols, out.begin() + o * cols);
  }
  return HostTensor::from_f32({n, cols}, out);
}

// The part of `delta` that lands on rows [offset, offset + n) (mod R) of ΔW: the rows of the row-wise factors, or,
// for a Kronecker product (whose rows are no rows of a factor), the whole factors and a row offset.
WeightPatch part(const WeightPatch& delta, const std::string& target, int64_t offset, int64_t n) {
  WeightPatch p = delta;
  p.target = target;
  if (offset == 0 && n == delta.delta_rows()) return p;
  if (delta.kind == WeightPatch::Kind::Kronecker) {
    p.row_offset = offset;
    return p;
  }
  p.up = take_rows(delta.up, offset, n);
  if (delta.kind == WeightPatch::Kind::Hadamard) p.up2 = take_rows(delta.up2, offset, n);
  // A per-channel DoRA magnitude is never split (check_dora), and a rotation leaves its column norms as they are.
  if (delta.magnitude_per_row()) p.magnitude = take_rows(delta.magnitude, offset, n);
  return p;
}

// Spreads `delta` over `tensors` (rows in order, or one tensor with the halves of ΔW swapped), after checking
// that their row counts add up to ΔW's and that each has ΔW's columns (and, for a full difference, its shape).
void spread(const WeightPatch& delta, const std::vector<std::string>& tensors, bool swap_halves, bool full,
            const std::string& module, const std::string& what, const WeightSource& lora, const WeightSource& model,
            const std::string& model_what, WeightPatches& out) {
  const std::string& file = lora.origin();
  int64_t rows = 0;
  std::vector<int64_t> counts;
  for (const auto& target : tensors) {
    const TensorInfo& w = model.info(target);
    const auto [r, c] = matrix_view(w.shape);
    const bool matrix = full || w.shape.size() >= 2;
    const bool same_trailing = !full || tensors.size() > 1 ||
                               std::vector<int64_t>(w.shape.begin() + std::min<size_t>(1, w.shape.size()), w.shape.end()) ==
                                   std::vector<int64_t>(delta.up.shape.begin() + std::min<size_t>(1, delta.up.shape.size()), delta.up.shape.end());
    if (!matrix || c != delta.delta_cols() || !same_trailing)
      throw_invalid(file + ": LoRA module '" + module + "' (" + what + ") does not fit '" + target + "' " + shape_text(w.shape) +
                    " of " + model.origin() + (matrix ? "" : " (LoRA, LoHa and LoKr factors change matrices; a vector takes a .diff)"));
    counts.push_back(r);
    rows += r;
  }
  if (rows != delta.delta_rows())
    throw_invalid(file + ": LoRA module '" + module + "' has " + what + " but its target(s) " + quoted_list(tensors, 4) + " have " +
                  std::to_string(rows) + " rows in " + model.origin() + " (" + model_what + ")");
  int64_t row = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    out.push_back(part(delta, tensors[i], swap_halves ? rows / 2 : row, counts[i]));
    row += counts[i];
  }
}

// A DoRA magnitude must hold one value per row of the targets together, or, on a single target, one per input
// channel ([1, channels, 1...]): a per-channel norm runs over every row of the layer, which a split would cut.
void check_dora(const WeightPatch& delta, const std::vector<std::string>& tensors, const std::string& module, const std::string& key,
                const WeightSource& lora, const WeightSource& model) {
  const std::vector<int64_t>& m = delta.magnitude.shape;
  if (delta.magnitude_per_row()) return;
  const std::vector<int64_t>& w = model.info(tensors[0]).shape;
  const bool per_channel = !m.empty() && m[0] == 1 && w.size() >= 2 && delta.magnitude.numel() == w[1];
  if (per_channel && tensors.size() == 1) return;
  if (per_channel)
    throw_invalid(lora.origin() + ": LoRA module '" + module + "' has the per-input-channel DoRA magnitude '" + key + "' " +
                  shape_text(m) + ", but its rows are split over " + quoted_list(tensors, 4) +
                  " of " + model.origin() + ", and the norm of each channel would span them; not supported");
  throw_invalid(lora.origin() + ": LoRA module '" + module + "' has the DoRA magnitude '" + key + "' " + shape_text(m) +
                ", which is neither one value per output row (" + std::to_string(delta.delta_rows()) + ") nor per input channel of '" +
                tensors[0] + "' " + shape_text(w) + " ([1, " + (w.size() >= 2 ? std::to_string(w[1]) : std::string("?")) + "])");
}

// Maps every module of `lora` with `map` and makes the patches; `what` names the model in messages.
WeightPatches make_patches(const WeightSource& lora, const WeightSource& model, float strength, const Mapper& map,
                           const std::string& what) {
  const std::string& file = lora.origin();
  const std::map<std::string, AdapterModule> modules = read_adapter_modules(lora);
  std::vector<std::pair<std::string, Targets>> mapped;
  std::vector<std::string> unknown;
  for (const auto& [name, m] : modules) {
    if (auto t = map(name)) {
      mapped.emplace_back(name, *t);
    } else {
      unknown.push_back(name);
    }
  }
  if (!unknown.empty())
    throw_invalid(file + ": " + std::to_string(unknown.size()) + " of " + std::to_string(modules.size()) +
                  " LoRA module(s) match no " + what + " weight (a LoRA for another model?): " + quoted_list(unknown));

  WeightPatches patches;
  for (const auto& [name, t] : mapped) {
    const AdapterDelta d = read_adapter_delta(lora, name, modules.at(name), strength);
    if (d.weight && !d.dora_key.empty()) check_dora(*d.weight, t.weights, name, d.dora_key, lora, model);
    if (d.weight) spread(*d.weight, t.weights, t.swap_halves, d.full, name, d.what, lora, model, what, patches);
    if (d.bias) {
      std::vector<std::string> biases;
      for (const auto& w : t.weights) {
        const std::string b = w.ends_with(".weight") ? w.substr(0, w.size() - 7) + ".bias" : "";
        if (b.empty() || !model.has(b))
          throw_invalid(file + ": LoRA module '" + name + "' changes a bias, but '" + w + "' of " + model.origin() + " has none");
        biases.push_back(b);
      }
      spread(*d.bias, biases, t.swap_halves, true, name, d.what, lora, model, what, patches);
    }
  }
  return patches;
}

// Every tensor of the model by its module name ("x" for "x.weight", else the tensor's own name) and, where
// `original` gives one, its original-layout name; kohya-style names are either with dots as underscores.
Mapper alias_mapper(const WeightSource& model, std::string (*original)(const std::string&)) {
  auto dotted = std::make_shared<std::map<std::string, std::string>>();
  auto kohya = std::make_shared<std::map<std::string, std::string>>();
  auto module_of = [](const std::string& n) { return n.ends_with(".weight") ? n.substr(0, n.size() - 7) : n; };
  for (const std::string& n : model.names()) {
    std::vector<std::string> names = {module_of(n)};
    const std::string o = original ? original(n) : std::string();
    if (!o.empty() && o != n) names.push_back(module_of(o));
    for (const auto& a : names) {
      dotted->emplace(a, n);
      kohya->emplace(underscores(a), n);
    }
  }
  return [dotted, kohya](const std::string& name) -> std::optional<Targets> {
    // kohya (sd-scripts, musubi), LyCORIS (SimpleTuner) and OneTrainer spell module paths with underscores.
    for (const char* p : {"lora_unet_", "lycoris_", "lora_transformer_"})
      if (starts_with(name, p)) {
        const auto it = kohya->find(name.substr(std::strlen(p)));
        if (it != kohya->end()) return Targets{{it->second}, false};
      }
    for (const char* p : {"base_model.model.", "transformer.", "model.diffusion_model.", "diffusion_model.", ""})
      if (starts_with(name, p)) {
        const auto it = dotted->find(name.substr(std::strlen(p)));
        if (it != dotted->end()) return Targets{{it->second}, false};
      }
    return std::nullopt;
  };
}

}  // namespace

namespace {
// FLUX.1 Canny/Depth control LoRAs (BFL's flux1-{canny,depth}-dev-lora) widen img_in (x_embedder) to take the
// packed latent and the control image's latent concatenated on channels (64 -> 128 for FLUX.1), and replace the
// q/k RMSNorm scales outright (bare `..._norm.scale` tensors, diffusers `attn.norm_k.weight`): the transformer
// would have to grow its input layer and its sampler take a control latent. Refused, naming what gave it away.
void refuse_flux_control_lora(const WeightSource& lora, const WeightSource& model) {
  const int64_t in = model.has("x_embedder.weight") ? model.info("x_embedder.weight").shape.back() : 0;
  std::string evidence;
  for (const std::string& key : lora.names()) {
    const bool embedder = key.find("img_in.") != std::string::npos || key.find("x_embedder.") != std::string::npos;
    const bool down = key.ends_with(".lora_A.weight") || key.ends_with(".lora_down.weight");
    if (embedder && down && in > 0 && lora.info(key).shape.size() == 2 && lora.info(key).shape[1] != in) {
      evidence = "'" + key + "' " + shape_text(lora.info(key).shape) + " widens the image input from " + std::to_string(in) +
                 " to " + std::to_string(lora.info(key).shape[1]) + " channels";
      break;
    }
    for (const char* norm : {"_norm.scale", ".norm_q.weight", ".norm_k.weight", ".norm_added_q.weight", ".norm_added_k.weight"})
      if (key.ends_with(norm) && evidence.empty()) evidence = "'" + key + "' replaces an attention norm's scale outright";
  }
  if (!evidence.empty())
    throw_invalid(lora.origin() + " is a FLUX control LoRA (Canny/Depth): " + evidence +
                  ". Control LoRAs need the transformer's img_in widened for a control image latent concatenated to the "
                  "latent on channels, and a control-latent input to flux.sample; lattice does not support them yet");
}
}  // namespace

WeightPatches flux_lora_patches(const WeightSource& lora, const WeightSource& model, float strength) {
  refuse_flux_control_lora(lora, model);
  const Mapper by_name = alias_mapper(model, nullptr);
  return make_patches(lora, model, strength, [&](const std::string& m) { return flux_targets(m, by_name); }, "FLUX transformer");
}

WeightPatches wan_lora_patches(const WeightSource& lora, const WeightSource& model, float strength) {
  return make_patches(lora, model, strength, alias_mapper(model, wan_original_name), "Wan 2.1 transformer");
}

WeightPatches ltx_lora_patches(const WeightSource& lora, const WeightSource& model, float strength) {
  return make_patches(lora, model, strength, alias_mapper(model, ltx_original_name), "LTX-Video transformer");
}

}  // namespace lattice
