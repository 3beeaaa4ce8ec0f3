#pragma once
/// WeightSource: the tensors of one model component, read from a checkpoint in any layout found in the wild.
///
///  - one .safetensors file (BFL originals such as flux1-dev.safetensors and ae.safetensors, single-file
///    community checkpoints, LoRAs);
///  - a diffusers component folder (transformer/, vae/, text_encoder/, text_encoder_2/) holding
///    diffusion_pytorch_model.safetensors or model.safetensors, or shards listed by a
///    *.safetensors.index.json ({"weight_map": {tensor: shard file}});
///  - a diffusers pipeline folder together with the component's subfolder name.
///
/// Every file is memory-mapped and validated (core/safetensors.h) on open; an index must name only shards
/// that exist, and each tensor must be in the shard the index names. A tensor name present in two files is
/// an error. Nothing is copied until load() or bytes(): views borrow from the mappings, which live as long
/// as the WeightSource. Errors are lattice::Error(InvalidInput) naming the path and the tensor.
///
/// Prefixes: single files often wrap the component's keys (`model.diffusion_model.`); strip_prefix()
/// removes a prefix from every key that has it, so that detection and loading see the component's own names.

#include <filesystem>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace lattice {

class WeightSource {
 public:
  /// `component` is the subfolder to use when `path` is a pipeline folder (e.g. "transformer").
  static WeightSource open(const std::filesystem::path& path, const std::string& component = "");

  /// Sorted tensor names.
  std::vector<std::string> names() const;
  bool has(std::string_view name) const { return find(name) != nullptr; }
  const TensorInfo* find(std::string_view name) const;
  const TensorInfo& info(std::string_view name) const;  ///< throws naming the tensor if absent
  std::span<const uint8_t> bytes(std::string_view name) const;
  HostTensor load(std::string_view name) const;
  /// The tensor as float32, decoded straight from the mapping (no copy of the stored bytes).
  std::vector<float> load_f32(std::string_view name) const;
  /// Total bytes of all tensors.
  uint64_t total_bytes() const;
  /// Number of distinct indices N for keys of the form `<prefix>N.<rest>` (block counts).
  int count_blocks(std::string_view prefix) const;
  /// The folder's config.json, if there is one.
  const std::optional<nlohmann::json>& config() const { return config_; }
  /// Removes `prefix` from every name that starts with it; returns how many names changed.
  size_t strip_prefix(const std::string& prefix);
  /// Where the weights came from, for messages.
  const std::string& origin() const { return origin_; }

  // Layout conversion (e.g. BFL -> diffusers names): new names for existing data, without copying where
  // the data is contiguous. Each throws Error(InvalidInput) naming the tensor when it does not apply.
  /// Gives tensor `from` the name `to`.
  void rename(const std::string& from, const std::string& to);
  /// A new tensor `to` holding rows [begin, end) of the leading dimension of `from` (a view of the mapping).
  void add_rows(const std::string& to, const std::string& from, int64_t begin, int64_t end);
  /// A new tensor held in host memory (for data that is no contiguous slice of the file).
  void add_owned(const std::string& to, HostTensor t);
  /// Drops a name (the data stays mapped while other names view it).
  void remove(const std::string& name);

  /// A source with the same names viewing the same data as `base`, which it keeps alive, to be changed on its
  /// own (e.g. a FLUX control LoRA widening one tensor): nothing is copied. `base` must not change afterwards.
  static std::shared_ptr<WeightSource> derived(std::shared_ptr<const WeightSource> base);

 private:
  struct Entry {
    const SafetensorsFile* file;  // null for owned tensors
    const TensorInfo* info;
    const HostTensor* owned = nullptr;
  };
  std::deque<TensorInfo> derived_infos_;  // views made by add_rows (stable addresses)
  std::deque<std::pair<TensorInfo, HostTensor>> owned_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::optional<nlohmann::json> config_;
  std::string origin_;
  std::shared_ptr<const WeightSource> base_;  // what derived() views; keeps its mappings alive
  void add_file(const std::filesystem::path& p, const std::map<std::string, std::string>* expected = nullptr);
};

/// The config.json of a component folder (`path/component/config.json` or `path/config.json`), if present.
/// Lets --dry-run plan a model from its configuration before its weights are downloaded.
std::optional<nlohmann::json> component_config(const std::filesystem::path& path, const std::string& component);

}  // namespace lattice
