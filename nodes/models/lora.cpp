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

// Shapes that model tensors take in place of their own (a FLUX control LoRA's widened x_embedder, checked at strength
// 0 without being built).
using Reshaped = std::map<std::string, std::vector<int64_t>>;

const std::vector<int64_t>& shape_of(const WeightSource& model, const Reshaped& reshaped, const std::string& name) {
  const auto it = reshaped.find(name);
  return it == reshaped.end() ? model.info(name).shape : it->second;
}

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

// Rows (o + offset) mod R, o < n, of t read as a matrix [R, cols]: [n, cols] in t's dtype, only those rows copied.
HostTensor take_rows(const HostTensor& t, int64_t offset, int64_t n) {
  const auto [total, cols] = matrix_view(t.shape);
  const size_t row = static_cast<size_t>(cols) * dtype_size(t.dtype);
  HostTensor out{t.dtype, {n, cols}, std::vector<uint8_t>(static_cast<size_t>(n) * row)};
  for (int64_t o = 0; o < n; ++o)
    std::memcpy(out.data.data() + static_cast<size_t>(o) * row, t.data.data() + static_cast<size_t>((o + offset) % total) * row, row);
  return out;
}

// The part of `delta` that lands on rows [offset, offset + n) (mod R) of ΔW: the rows of the row-wise factors
// (the others whole), or, for all of ΔW rotated or a Kronecker product (whose rows are no rows of a factor), the
// whole factors and a row offset. `last`: delta is not needed afterwards, so what is taken whole is moved, not copied.
WeightPatch part(WeightPatch& delta, const std::string& target, int64_t offset, int64_t n, bool last) {
  if (n == delta.delta_rows() || delta.kind == WeightPatch::Kind::Kronecker) {  // all of ΔW, maybe rotated
    WeightPatch p = last ? std::move(delta) : delta;
    p.target = target;
    p.row_offset = offset;
    return p;
  }
  WeightPatch p;
  p.target = target;
  p.scale = delta.scale;
  p.kind = delta.kind;
  p.strength = delta.strength;
  p.up = take_rows(delta.up, offset, n);
  p.down = last ? std::move(delta.down) : delta.down;
  if (delta.kind == WeightPatch::Kind::Hadamard) {
    p.up2 = take_rows(delta.up2, offset, n);
    p.down2 = last ? std::move(delta.down2) : delta.down2;
  }
  // A per-channel DoRA magnitude is never split (check_dora), and a rotation leaves its column norms as they are.
  if (delta.magnitude_per_row()) p.magnitude = take_rows(delta.magnitude, offset, n);
  else p.magnitude = last ? std::move(delta.magnitude) : delta.magnitude;
  return p;
}

// Spreads `delta` over `tensors` (rows in order, or one tensor with the halves of ΔW swapped), after checking
// that their row counts add up to ΔW's and that each has ΔW's columns (and, for a full difference, its shape).
void spread(WeightPatch&& delta, const std::vector<std::string>& tensors, bool swap_halves, bool full,
            const std::string& module, const std::string& what, const WeightSource& lora, const WeightSource& model,
            const std::string& model_what, const Reshaped& reshaped, WeightPatches& out) {
  const std::string& file = lora.origin();
  int64_t rows = 0;
  std::vector<int64_t> counts;
  for (const auto& target : tensors) {
    const std::vector<int64_t>& shape = shape_of(model, reshaped, target);
    const auto [r, c] = matrix_view(shape);
    const bool matrix = full || shape.size() >= 2;
    const bool same_trailing = !full || tensors.size() > 1 ||
                               std::vector<int64_t>(shape.begin() + std::min<size_t>(1, shape.size()), shape.end()) ==
                                   std::vector<int64_t>(delta.up.shape.begin() + std::min<size_t>(1, delta.up.shape.size()), delta.up.shape.end());
    if (!matrix || c != delta.delta_cols() || !same_trailing)
      throw_invalid(file + ": LoRA module '" + module + "' (" + what + ") does not fit '" + target + "' " + shape_text(shape) +
                    " of " + model.origin() + (matrix ? "" : " (LoRA, LoHa and LoKr factors change matrices; a vector takes a .diff)"));
    counts.push_back(r);
    rows += r;
  }
  if (rows != delta.delta_rows())
    throw_invalid(file + ": LoRA module '" + module + "' has " + what + " but its target(s) " + quoted_list(tensors, 4) + " have " +
                  std::to_string(rows) + " rows in " + model.origin() + " (" + model_what + ")");
  int64_t row = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    out.push_back(part(delta, tensors[i], swap_halves ? rows / 2 : row, counts[i], i + 1 == tensors.size()));
    row += counts[i];
  }
}

// A DoRA magnitude must hold one value per row of the targets together, or, on a single target, one per input
// channel ([1, channels, 1...]): a per-channel norm runs over every row of the layer, which a split would cut.
void check_dora(const WeightPatch& delta, const std::vector<std::string>& tensors, const std::string& module, const std::string& key,
                const WeightSource& lora, const WeightSource& model, const Reshaped& reshaped) {
  const std::vector<int64_t>& m = delta.magnitude.shape;
  if (delta.magnitude_per_row()) return;
  const std::vector<int64_t>& w = shape_of(model, reshaped, tensors[0]);
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

// Adjusts a module's weight change to its targets before it is spread over them (FLUX: a narrower x_embedder change).
using Fit = std::function<void(WeightPatch& delta, const Targets& targets, const std::string& module)>;

// Maps every module of `lora` (`modules`, read_adapter_modules) with `map` and makes the patches; `what` names the
// model in messages. `fit`, if given, adjusts each weight change first; `reshaped` gives tensors other shapes.
WeightPatches make_patches(const WeightSource& lora, const std::map<std::string, AdapterModule>& modules, const WeightSource& model,
                           float strength, const Mapper& map, const std::string& what, const Fit& fit = {},
                           const Reshaped& reshaped = {}) {
  const std::string& file = lora.origin();
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
    AdapterDelta d = read_adapter_delta(lora, name, modules.at(name), strength);
    if (d.weight && !d.dora_key.empty()) check_dora(*d.weight, t.weights, name, d.dora_key, lora, model, reshaped);
    if (d.weight && fit) fit(*d.weight, t, name);
    if (d.weight) spread(std::move(*d.weight), t.weights, t.swap_halves, d.full, name, d.what, lora, model, what, reshaped, patches);
    if (d.bias) {
      std::vector<std::string> biases;
      for (const auto& w : t.weights) {
        const std::string b = w.ends_with(".weight") ? w.substr(0, w.size() - 7) + ".bias" : "";
        if (b.empty() || !model.has(b))
          throw_invalid(file + ": LoRA module '" + name + "' changes a bias, but '" + w + "' of " + model.origin() + " has none");
        biases.push_back(b);
      }
      spread(std::move(*d.bias), biases, t.swap_halves, true, name, d.what, lora, model, what, reshaped, patches);
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
constexpr const char* kXEmbedder = "x_embedder.weight";

// The model tensor a FLUX LoRA key sets outright, if it is one: the q/k RMSNorm scales that control LoRAs carry
// whole (BFL `double_blocks.N.img_attn.norm.query_norm.scale`..., diffusers `transformer_blocks.N.attn.norm_q.weight`...).
std::optional<std::string> flux_set_target(const std::string& key, const WeightSource& model) {
  if (key.ends_with("_norm.scale")) {
    for (const char* p : {"model.diffusion_model.", "diffusion_model.", ""})
      if (starts_with(key, p))
        if (auto t = from_bfl(key.substr(std::strlen(p)), false); t && t->weights.size() == 1) return t->weights[0];
    return std::nullopt;
  }
  for (const char* norm : {".norm_q.weight", ".norm_k.weight", ".norm_added_q.weight", ".norm_added_k.weight"})
    if (key.ends_with(norm))
      for (const char* p : {"base_model.model.", "transformer.", ""})
        if (starts_with(key, p) && model.has(key.substr(std::strlen(p)))) return key.substr(std::strlen(p));
  return std::nullopt;
}

// What a FLUX LoRA changes besides its patches: x_embedder's input width (0: unchanged) and the tensors it sets.
struct FluxReshape {
  int64_t width = 0;
  std::string width_key;                   // the LoRA key that widens
  std::map<std::string, std::string> set;  // model tensor -> LoRA key holding its new value
  std::map<std::string, AdapterModule> modules;  // the LoRA's other keys by module, parsed once here
  bool any() const { return width > 0 || !set.empty(); }
};

FluxReshape flux_reshape(const WeightSource& lora, const WeightSource& model) {
  FluxReshape r;
  const std::string& file = lora.origin();
  for (const std::string& key : lora.names()) {
    const auto target = flux_set_target(key, model);
    if (!target) continue;
    if (!model.has(*target))
      throw_invalid(file + ": '" + key + "' sets '" + *target + "', which " + model.origin() + " does not have");
    if (lora.info(key).shape != model.info(*target).shape)
      throw_invalid(file + ": '" + key + "' " + shape_text(lora.info(key).shape) + " should replace '" + *target + "' " +
                    shape_text(model.info(*target).shape) + " of " + model.origin());
    if (const auto [it, fresh] = r.set.emplace(*target, key); !fresh)
      throw_invalid(file + ": '" + it->second + "' and '" + key + "' both set '" + *target + "'");
  }
  // x_embedder's input width as the LoRA's down factor (or full difference) has it.
  const int64_t in = model.info(kXEmbedder).shape.at(1);
  const Mapper by_name = alias_mapper(model, nullptr);
  r.modules = read_adapter_modules(lora, [&](const std::string& k) { return r.set.count(flux_set_target(k, model).value_or("")) > 0; });
  for (const auto& [name, m] : r.modules) {
    const auto t = flux_targets(name, by_name);
    if (!t || t->weights != std::vector<std::string>{kXEmbedder}) continue;
    for (const char* role : {"lora_down", "diff"}) {
      const auto it = m.keys.find(role);
      if (it == m.keys.end() || lora.info(it->second).shape.size() != 2) continue;
      const int64_t width = lora.info(it->second).shape[1];
      if (width > in && width > r.width) {
        r.width = width;
        r.width_key = it->second;
      }
    }
  }
  const int64_t out = model.info("proj_out.weight").shape.at(0);
  if (r.width && r.width != 2 * out)
    throw_invalid(file + ": '" + r.width_key + "' " + shape_text(lora.info(r.width_key).shape) + " widens x_embedder from " +
                  std::to_string(in) + " to " + std::to_string(r.width) + " input channels; FLUX structural control takes " +
                  std::to_string(out) + " latent + " + std::to_string(out) + " control channels (" + std::to_string(2 * out) + ")");
  return r;
}

// t read as [rows, cols] with zero columns appended up to `width`, in its own dtype (zero is all-zero bits in each).
HostTensor zero_extended(const HostTensor& t, int64_t width) {
  const auto [rows, cols] = matrix_view(t.shape);
  const size_t es = dtype_size(t.dtype);
  HostTensor w{t.dtype, {rows, width}, std::vector<uint8_t>(static_cast<size_t>(rows * width) * es, 0)};
  for (int64_t o = 0; o < rows; ++o)
    std::memcpy(w.data.data() + static_cast<size_t>(o * width) * es, t.data.data() + static_cast<size_t>(o * cols) * es,
                static_cast<size_t>(cols) * es);
  return w;
}

// A change of x_embedder narrower than the (widened) tensor changes its first columns, as diffusers pads lora_A with
// zeros: the dense factor of a product (down, or the full difference) gains zero columns.
void fit_x_embedder(WeightPatch& p, int64_t width, const std::string& module, const std::string& file) {
  if (p.delta_cols() >= width) return;
  const bool dora_per_channel = !p.magnitude.shape.empty() && !p.magnitude_per_row();
  if (p.kind != WeightPatch::Kind::Product || dora_per_channel)
    throw_invalid(file + ": LoRA module '" + module + "' changes " + std::to_string(p.delta_cols()) + " of x_embedder's " +
                  std::to_string(width) + " input channels with LoHa/LoKr factors or a per-channel DoRA magnitude, which cannot be "
                  "padded to the widened layer");
  HostTensor& dense = p.down.shape.empty() && p.down.data.empty() ? p.up : p.down;
  dense = zero_extended(HostTensor::from_f32(dense.shape, dense.to_f32()), width);
}

// The patches of the modules r holds, on `model` with x_embedder as `reshaped` says (else as it is).
WeightPatches flux_patches(const WeightSource& lora, const WeightSource& model, float strength, const FluxReshape& r,
                           const Reshaped& reshaped = {}) {
  const Mapper by_name = alias_mapper(model, nullptr);
  const int64_t width = shape_of(model, reshaped, kXEmbedder).at(1);
  return make_patches(
      lora, r.modules, model, strength, [&](const std::string& m) { return flux_targets(m, by_name); }, "FLUX transformer",
      [&](WeightPatch& d, const Targets& t, const std::string& module) {
        if (t.weights == std::vector<std::string>{kXEmbedder}) fit_x_embedder(d, width, module, lora.origin());
      },
      reshaped);
}
}  // namespace

FluxLoraResult apply_flux_lora(const WeightSource& lora, const std::shared_ptr<WeightSource>& model, const WeightPatches* earlier,
                               float strength) {
  const FluxReshape r = flux_reshape(lora, *model);
  FluxLoraResult out;
  out.weights = model;
  if (strength == 0) {
    // Strength 0 leaves the model as it was: no widened x_embedder, no norm scales set, no patches (the file is
    // still checked whole, against the widened shape it would have). ComfyUI does the same (LoraLoader returns
    // the model untouched at strength 0, and its FLUX concat_cond drops a control latent for an unwidened
    // img_in); diffusers widens at load_lora_weights whatever set_adapters' weight is later, but a weight of 0
    // there still sets the norm scales, so it is not the base model either. Here a control input on the
    // unchanged model is refused by check_flux_control, saying so.
    Reshaped widened;
    if (r.width) widened[kXEmbedder] = {model->info(kXEmbedder).shape.at(0), r.width};
    flux_patches(lora, *model, 0.0f, r, widened);
    if (earlier) out.patches = *earlier;
    out.in_channels = static_cast<int>(model->info(kXEmbedder).shape.at(1));
    return out;
  }
  if (r.any()) {
    out.weights = WeightSource::derived(model);
    if (r.width) {
      HostTensor wide = zero_extended(model->load(kXEmbedder), r.width);
      out.weights->remove(kXEmbedder);
      out.weights->add_owned(kXEmbedder, std::move(wide));
    }
    for (const auto& [target, key] : r.set) {
      out.weights->remove(target);
      out.weights->add_owned(target, lora.load(key));
    }
  }
  const int64_t width = out.weights->info(kXEmbedder).shape.at(1);
  if (earlier)
    for (const WeightPatch& p : *earlier) {
      if (r.set.count(p.target)) continue;  // set outright: what earlier patches did to it is replaced
      out.patches.push_back(p);
      if (p.target == kXEmbedder) fit_x_embedder(out.patches.back(), width, "(an earlier LoRA's x_embedder)", lora.origin());
    }
  WeightPatches mine = flux_patches(lora, *out.weights, strength, r);
  out.patches.insert(out.patches.end(), std::make_move_iterator(mine.begin()), std::make_move_iterator(mine.end()));
  out.in_channels = static_cast<int>(width);
  return out;
}

WeightPatches wan_lora_patches(const WeightSource& lora, const WeightSource& model, float strength) {
  return make_patches(lora, read_adapter_modules(lora, {}), model, strength, alias_mapper(model, wan_original_name), "Wan 2.1 transformer");
}

WeightPatches ltx_lora_patches(const WeightSource& lora, const WeightSource& model, float strength) {
  return make_patches(lora, read_adapter_modules(lora, {}), model, strength, alias_mapper(model, ltx_original_name),
                      "LTX-Video transformer");
}

}  // namespace lattice
