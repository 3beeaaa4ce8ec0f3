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
#include "nodes/models/ltx/config.h"
#include "nodes/models/wan/checkpoint.h"

namespace lattice {
namespace {

struct Module {
  std::string down, up, alpha;  // tensor names in the LoRA file
};

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
  };
  return m;
}
const std::vector<BflModule>& single_block_modules() {
  static const std::vector<BflModule> m = {
      {"linear1", {"attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"}},
      {"linear2", {"proj_out"}},
      {"modulation.lin", {"norm.linear"}},
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

struct Targets {
  std::vector<std::string> names;  // diffusers module names (without .weight)
  bool swap_halves = false;
};

// A BFL module path (dotted, or with underscores for kohya) -> diffusers targets.
std::optional<Targets> from_bfl(const std::string& module, bool kohya) {
  auto match = [&](const std::vector<BflModule>& table, const std::string& rest, const std::string& prefix) -> std::optional<Targets> {
    for (const auto& m : table)
      if (rest == (kohya ? underscores(m.bfl) : std::string(m.bfl))) {
        Targets t;
        for (const char* n : m.targets) t.names.push_back(prefix + n);
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

// The diffusers targets of a LoRA module name, or nullopt when the name belongs to no known convention.
std::optional<Targets> targets_of(const std::string& module, const WeightSource& model) {
  if (starts_with(module, "lora_unet_")) return from_bfl(module.substr(10), true);
  for (const char* p : {"base_model.model.", "transformer.", ""})
    if (starts_with(module, p) && model.has(module.substr(std::strlen(p)) + ".weight"))
      return Targets{{module.substr(std::strlen(p))}, false};
  for (const char* p : {"model.diffusion_model.", "diffusion_model.", ""})
    if (starts_with(module, p))
      if (auto t = from_bfl(module.substr(std::strlen(p)), false)) return t;
  return std::nullopt;
}

// Splits a LoRA key into module name and role; false for keys that are no LoRA factor.
bool split_key(const std::string& key, std::string& module, std::string& role) {
  static const std::array<std::pair<const char*, const char*>, 7> suffixes = {{
      {".lora_A.weight", "down"}, {".lora_B.weight", "up"}, {".lora_down.weight", "down"}, {".lora_up.weight", "up"},
      {".lora.down.weight", "down"}, {".lora.up.weight", "up"}, {".alpha", "alpha"}}};
  for (const auto& [s, r] : suffixes) {
    const size_t n = std::strlen(s);
    if (key.size() > n && key.compare(key.size() - n, n, s) == 0) {
      module = key.substr(0, key.size() - n);
      role = r;
      return true;
    }
  }
  return false;
}

std::string list_first(const std::vector<std::string>& v, size_t n = 5) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < n; ++i) s += (i ? ", '" : "'") + v[i] + "'";
  if (v.size() > n) s += " and " + std::to_string(v.size() - n) + " more";
  return s;
}

// The LoRA file's modules by name; every tensor must be a LoRA factor.
std::map<std::string, Module> read_modules(const WeightSource& lora) {
  const std::string& file = lora.origin();
  std::map<std::string, Module> modules;
  std::vector<std::string> unknown;
  for (const auto& key : lora.names()) {
    std::string module, role;
    if (!split_key(key, module, role)) {
      unknown.push_back(key);
      continue;
    }
    Module& m = modules[module];
    (role == "down" ? m.down : role == "up" ? m.up : m.alpha) = key;
  }
  if (!unknown.empty())
    throw_invalid(file + ": " + std::to_string(unknown.size()) + " tensor(s) are no LoRA factors (.lora_A/.lora_B, "
                  ".lora_down/.lora_up, .alpha): " + list_first(unknown));
  if (modules.empty()) throw_invalid(file + ": no LoRA tensors in the file");
  return modules;
}

using Mapper = std::function<std::optional<Targets>(const std::string& module)>;

// Maps every module of `lora` with `map` and makes the patches; `what` names the model in messages.
WeightPatches make_patches(const WeightSource& lora, const WeightSource& model, float strength, const Mapper& map,
                           const std::string& what) {
  const std::string& file = lora.origin();
  const std::map<std::string, Module> modules = read_modules(lora);
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
                  " LoRA module(s) match no " + what + " weight (a LoRA for another model?): " + list_first(unknown));

  WeightPatches patches;
  for (const auto& [name, t] : mapped) {
    const Module& m = modules.at(name);
    if (m.down.empty() || m.up.empty())
      throw_invalid(file + ": LoRA module '" + name + "' lacks its " + (m.down.empty() ? "down (A)" : "up (B)") + " matrix");
    HostTensor down = lora.load(m.down), up = lora.load(m.up);
    if (down.shape.size() != 2 || up.shape.size() != 2 || up.shape[1] != down.shape[0])
      throw_invalid(file + ": LoRA module '" + name + "' has up " + up.shape_string() + " and down " + down.shape_string() +
                    ", expected up [out, rank] and down [rank, in] (convolution LoRAs do not apply to the " + what + ")");
    const int64_t rank = down.shape[0], in = down.shape[1];
    float alpha = static_cast<float>(rank);
    if (!m.alpha.empty()) {
      const HostTensor a = lora.load(m.alpha);
      if (a.numel() != 1) throw_invalid(file + ": '" + m.alpha + "' should be a scalar, it has shape " + a.shape_string());
      alpha = a.to_f32()[0];
    }
    int64_t rows = 0;
    std::vector<int64_t> outs;
    for (const auto& target : t.names) {
      const TensorInfo& w = model.info(target + ".weight");
      if (w.shape.size() != 2 || w.shape[1] != in)
        throw_invalid(file + ": LoRA module '" + name + "' (down " + down.shape_string() + ") does not fit '" + target +
                      ".weight' " + HostTensor{DType::F32, w.shape, {}}.shape_string() + " of " + model.origin());
      outs.push_back(w.shape[0]);
      rows += w.shape[0];
    }
    if (rows != up.shape[0])
      throw_invalid(file + ": LoRA module '" + name + "' has up " + up.shape_string() + " but its target(s) " +
                    list_first(t.names, 4) + " have " + std::to_string(rows) + " rows in " + model.origin());
    std::vector<float> u = up.to_f32();
    if (t.swap_halves) {
      const size_t half = u.size() / 2;
      std::rotate(u.begin(), u.begin() + static_cast<std::ptrdiff_t>(half), u.end());
    }
    const HostTensor down32 = HostTensor::from_f32(down.shape, down.to_f32());
    int64_t row = 0;
    for (size_t i = 0; i < t.names.size(); ++i) {
      WeightPatch p;
      p.target = t.names[i] + ".weight";
      p.up = HostTensor::from_f32({outs[i], rank}, std::vector<float>(u.begin() + row * rank, u.begin() + (row + outs[i]) * rank));
      p.down = down32;
      p.scale = strength * alpha / static_cast<float>(rank);
      patches.push_back(std::move(p));
      row += outs[i];
    }
  }
  return patches;
}

// Wan and LTX-Video: every matrix of the model is known under its diffusers module name and, where the original
// layout differs, under the original one; kohya names are either with dots as underscores.
Mapper alias_mapper(const WeightSource& model, std::string (*original)(const std::string&)) {
  auto dotted = std::make_shared<std::map<std::string, std::string>>();
  auto kohya = std::make_shared<std::map<std::string, std::string>>();
  for (const std::string& n : model.names()) {
    const std::string suffix = ".weight";
    if (n.size() <= suffix.size() || n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    if (model.info(n).shape.size() != 2) continue;
    const std::string module = n.substr(0, n.size() - suffix.size());
    std::vector<std::string> names = {module};
    const std::string o = original(n);
    if (!o.empty() && o != n) names.push_back(o.substr(0, o.size() - suffix.size()));
    for (const auto& a : names) {
      dotted->emplace(a, module);
      kohya->emplace(underscores(a), module);
    }
  }
  return [dotted, kohya](const std::string& name) -> std::optional<Targets> {
    if (starts_with(name, "lora_unet_")) {
      const auto it = kohya->find(name.substr(10));
      if (it != kohya->end()) return Targets{{it->second}, false};
      return std::nullopt;
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

WeightPatches flux_lora_patches(const WeightSource& lora, const WeightSource& model, float strength) {
  return make_patches(lora, model, strength, [&](const std::string& m) { return targets_of(m, model); }, "FLUX transformer");
}

WeightPatches wan_lora_patches(const WeightSource& lora, const WeightSource& model, float strength) {
  return make_patches(lora, model, strength, alias_mapper(model, wan_original_name), "Wan 2.1 transformer");
}

WeightPatches ltx_lora_patches(const WeightSource& lora, const WeightSource& model, float strength) {
  return make_patches(lora, model, strength, alias_mapper(model, ltx_original_name), "LTX-Video transformer");
}

}  // namespace lattice
