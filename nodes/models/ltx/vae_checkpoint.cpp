#include "nodes/models/ltx/vae_checkpoint.h"

#include <map>
#include <set>

#include "core/error.h"

namespace lattice {

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// Block index N of names `<coder>.<list>.N.<rest>`, in numeric order.
std::set<int> block_indices(const WeightSource& w, const std::string& prefix) {
  std::set<int> out;
  for (const std::string& n : w.names()) {
    if (!starts_with(n, prefix)) continue;
    const size_t dot = n.find('.', prefix.size());
    const std::string idx = n.substr(prefix.size(), dot - prefix.size());
    if (idx.empty() || idx.find_first_not_of("0123456789") != std::string::npos)
      throw_invalid(w.origin() + ": LTX-Video VAE tensor '" + n + "' has no block number after '" + prefix + "'");
    out.insert(std::stoi(idx));
  }
  return out;
}

// What an original block is: a group of res_blocks (UNetMidBlock3D), one resnet (ResnetBlock3D, where
// the width changes), or a resampler (a conv: bare and strided in 0.9.0/0.9.1 encoders, wrapped otherwise).
enum class Kind { Resnets, Resnet, Sampler };

Kind block_kind(const WeightSource& w, const std::string& block) {
  for (const std::string& n : w.names())
    if (starts_with(n, block + "res_blocks.")) return Kind::Resnets;
  if (w.has(block + "conv1.conv.weight")) return Kind::Resnet;
  if (w.has(block + "conv.conv.weight") || w.has(block + "conv.weight")) return Kind::Sampler;
  throw_invalid(w.origin() + ": LTX-Video VAE block '" + block +
                "' is neither a group of res_blocks, a resnet (conv1) nor a resampler (conv.conv.weight / conv.weight)");
}

// Original block prefix -> diffusers prefix, for one coder. A diffusers block gathers, in order, the stages
// decoder: conv_in (a resnet), upsampler, resnets; encoder: resnets, downsampler, conv_out (a resnet). An
// original block joins the current diffusers block when its stage comes later than the block's last one,
// else it opens the next block; the decoder's first block is the mid block, the encoder's last one.
std::map<std::string, std::string> coder_map(const WeightSource& w, bool decoder) {
  // The original and diffusers both call the list up_blocks / down_blocks; only the numbering differs.
  const std::string list = decoder ? "decoder.up_blocks." : "encoder.down_blocks.";
  const std::set<int> idx = block_indices(w, list);
  std::map<std::string, std::string> m;
  int k = -1, last = 3;  // the current diffusers block and its latest stage (3: none open)
  int seen = 0;
  for (int i : idx) {
    const std::string from = list + std::to_string(i) + ".";
    const Kind kind = block_kind(w, from);
    ++seen;
    if (decoder && seen == 1) {
      if (kind != Kind::Resnets) throw_invalid(w.origin() + ": LTX-Video VAE " + from + " should be the mid block's res_blocks");
      m[from] = "decoder.mid_block.";
      continue;
    }
    if (!decoder && kind == Kind::Resnets && seen == static_cast<int>(idx.size())) {
      m[from] = "encoder.mid_block.";
      continue;
    }
    int stage = 0;
    std::string part;
    if (decoder) {
      stage = kind == Kind::Resnet ? 0 : kind == Kind::Sampler ? 1 : 2;
      part = kind == Kind::Resnet ? "conv_in." : kind == Kind::Sampler ? "upsamplers.0." : "";
    } else {
      stage = kind == Kind::Resnets ? 0 : kind == Kind::Sampler ? 1 : 2;
      part = kind == Kind::Resnets ? "" : kind == Kind::Sampler ? "downsamplers.0." : "conv_out.";
      if (k < 0 && stage > 0) throw_invalid(w.origin() + ": LTX-Video VAE " + from + " comes before any res_blocks");
    }
    if (stage <= last || k < 0) ++k;
    last = stage;
    m[from] = list + std::to_string(k) + "." + part;
  }
  return m;
}

// Renames inside a block: res_blocks -> resnets, conv_shortcut's bare conv, norm3's wrapper (`rest` may be
// a resnet's own names, as for a single-resnet block).
std::string inner(const std::string& tail) {
  std::string rest = "." + tail;
  if (starts_with(rest, ".res_blocks.")) rest = ".resnets." + rest.substr(12);
  for (const char* p : {".conv_shortcut.weight", ".conv_shortcut.bias"}) {
    const size_t at = rest.find(p);
    if (at != std::string::npos && at + std::char_traits<char>::length(p) == rest.size())
      rest.insert(at + 15, "conv.");  // after ".conv_shortcut."
  }
  const size_t n3 = rest.find(".norm3.norm.");
  if (n3 != std::string::npos) rest.erase(n3 + 7, 5);  // ".norm3.norm." -> ".norm3."
  return rest.substr(1);
}

}  // namespace

bool is_ltx_vae_original(const WeightSource& w) {
  if (w.has("per_channel_statistics.mean-of-means") || w.has("decoder.last_scale_shift_table")) return true;
  for (const std::string& n : w.names())
    if ((starts_with(n, "decoder.up_blocks.") || starts_with(n, "encoder.down_blocks.")) && n.find(".res_blocks.") != std::string::npos)
      return true;
  return false;
}

void convert_ltx_vae_original(WeightSource& w) {
  if (!is_ltx_vae_original(w)) return;
  std::map<std::string, std::string> blocks = coder_map(w, true);
  blocks.merge(coder_map(w, false));
  // Every new name is computed before any rename, so a renamed tensor never meets a name still to be renamed.
  std::vector<std::pair<std::string, std::string>> plan;
  std::vector<std::string> drop;
  for (const std::string& n : w.names()) {
    std::string to = n;
    if (starts_with(n, "per_channel_statistics.")) {
      if (n == "per_channel_statistics.mean-of-means") to = "latents_mean";
      else if (n == "per_channel_statistics.std-of-means") to = "latents_std";
      else drop.push_back(n);
    } else if (starts_with(n, "decoder.last_time_embedder.")) {
      to = "decoder.time_embedder." + n.substr(27);
    } else if (n == "decoder.last_scale_shift_table") {
      to = "decoder.scale_shift_table";
    } else {
      for (const auto& [from, into] : blocks)
        if (starts_with(n, from)) {
          to = into + inner(n.substr(from.size()));
          break;
        }
    }
    if (to != n) plan.emplace_back(n, to);
  }
  for (const std::string& n : drop) w.remove(n);
  for (const auto& [from, to] : plan) w.rename(from, to);
}

}  // namespace lattice
