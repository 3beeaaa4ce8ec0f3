#include "nodes/models/wan/checkpoint.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace lattice {

namespace {

// Original name part -> diffusers name part, matched at the start of the name after `blocks.N.` (block
// entries) or of the whole name (top-level entries). Longer keys first where one is a prefix of another.
const std::pair<const char*, const char*> kTopLevel[] = {
    {"patch_embedding.", "patch_embedding."},
    {"text_embedding.0.", "condition_embedder.text_embedder.linear_1."},
    {"text_embedding.2.", "condition_embedder.text_embedder.linear_2."},
    {"time_embedding.0.", "condition_embedder.time_embedder.linear_1."},
    {"time_embedding.2.", "condition_embedder.time_embedder.linear_2."},
    {"time_projection.1.", "condition_embedder.time_proj."},
    {"img_emb.proj.0.", "condition_embedder.image_embedder.norm1."},
    {"img_emb.proj.1.", "condition_embedder.image_embedder.ff.net.0.proj."},
    {"img_emb.proj.3.", "condition_embedder.image_embedder.ff.net.2."},
    {"img_emb.proj.4.", "condition_embedder.image_embedder.norm2."},
    {"head.head.", "proj_out."},
    {"head.modulation", "scale_shift_table"},
};

const std::pair<const char*, const char*> kBlock[] = {
    {"self_attn.q.", "attn1.to_q."},          {"self_attn.k.", "attn1.to_k."},
    {"self_attn.v.", "attn1.to_v."},          {"self_attn.o.", "attn1.to_out.0."},
    {"self_attn.norm_q.", "attn1.norm_q."},   {"self_attn.norm_k.", "attn1.norm_k."},
    {"cross_attn.q.", "attn2.to_q."},         {"cross_attn.k_img.", "attn2.add_k_proj."},
    {"cross_attn.v_img.", "attn2.add_v_proj."}, {"cross_attn.norm_k_img.", "attn2.norm_added_k."},
    {"cross_attn.k.", "attn2.to_k."},         {"cross_attn.v.", "attn2.to_v."},
    {"cross_attn.o.", "attn2.to_out.0."},     {"cross_attn.norm_q.", "attn2.norm_q."},
    {"cross_attn.norm_k.", "attn2.norm_k."},  {"norm3.", "norm2."},
    {"ffn.0.", "ffn.net.0.proj."},            {"ffn.2.", "ffn.net.2."},
    {"modulation", "scale_shift_table"},
};

std::string renamed(const WeightSource& w, const std::string& name) {
  auto match = [&](const auto& table, const std::string& rest) -> std::optional<std::string> {
    for (const auto& [from, to] : table)
      if (rest.rfind(from, 0) == 0) return std::string(to) + rest.substr(std::char_traits<char>::length(from));
    return std::nullopt;
  };
  if (name.rfind("blocks.", 0) == 0) {
    const size_t dot = name.find('.', 7);
    if (dot != std::string::npos)
      if (auto r = match(kBlock, name.substr(dot + 1))) return name.substr(0, dot + 1) + *r;
  } else if (auto r = match(kTopLevel, name)) {
    return *r;
  }
  throw_invalid(w.origin() + ": tensor '" + name + "' is not part of an original-layout Wan 2.1 transformer");
}

}  // namespace

std::string wan_original_name(const std::string& name) {
  auto match = [&](const auto& table, const std::string& rest) -> std::string {
    for (const auto& [from, to] : table)
      if (rest.rfind(to, 0) == 0) return std::string(from) + rest.substr(std::char_traits<char>::length(to));
    return {};
  };
  if (name.rfind("blocks.", 0) == 0) {
    const size_t dot = name.find('.', 7);
    if (dot == std::string::npos) return {};
    const std::string r = match(kBlock, name.substr(dot + 1));
    return r.empty() ? r : name.substr(0, dot + 1) + r;
  }
  return match(kTopLevel, name);
}

bool is_wan_original(const WeightSource& w) { return w.has("head.head.weight"); }

void convert_wan_original(WeightSource& w) {
  if (!is_wan_original(w)) return;
  // Compute every new name first: a rename must not meet a name that is itself still to be renamed
  // (blocks.N.norm3 -> norm2 while the original norm2 has no parameters, so no clash arises in practice).
  std::vector<std::pair<std::string, std::string>> plan;
  for (const std::string& n : w.names()) plan.emplace_back(n, renamed(w, n));
  for (const auto& [from, to] : plan)
    if (from != to) w.rename(from, to);
}

}  // namespace lattice
