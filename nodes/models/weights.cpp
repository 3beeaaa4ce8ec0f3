#include "nodes/models/weights.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"

namespace lattice {

namespace fs = std::filesystem;

namespace {

std::optional<nlohmann::json> read_json_if_present(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  try {
    return nlohmann::json::parse(read_file(p));
  } catch (const nlohmann::json::exception& e) {
    throw_invalid(p.string() + ": malformed JSON: " + e.what());
  }
}

}  // namespace

void WeightSource::add_file(const fs::path& p, const std::map<std::string, std::string>* expected) {
  files_.push_back(std::make_unique<SafetensorsFile>(p));
  const SafetensorsFile* f = files_.back().get();
  for (const auto& t : f->tensors()) {
    if (expected) {
      auto it = expected->find(t.name);
      if (it == expected->end() || it->second != p.filename().string())
        throw_invalid(p.string() + ": tensor '" + t.name + "' is not listed for this shard in the index");
    }
    if (!entries_.emplace(t.name, Entry{f, &t}).second)
      throw_invalid(origin_ + ": tensor '" + t.name + "' appears in more than one file (" + p.string() + ")");
  }
}

WeightSource WeightSource::open(const fs::path& path, const std::string& component) {
  WeightSource w;
  w.origin_ = path.string();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw_invalid(path.string() + ": no such file or folder");
  if (fs::is_regular_file(path, ec)) {
    w.add_file(path);
    return w;
  }
  fs::path dir = path;
  if (!component.empty() && fs::is_directory(path / component, ec)) dir = path / component;
  w.origin_ = dir.string();
  w.config_ = read_json_if_present(dir / "config.json");

  // Sharded: an index names the shards; every shard must exist and hold exactly what the index says.
  std::vector<fs::path> indices, singles;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 23 && name.ends_with(".safetensors.index.json")) indices.push_back(e.path());
    else if (name.ends_with(".safetensors")) singles.push_back(e.path());
  }
  std::sort(indices.begin(), indices.end());
  std::sort(singles.begin(), singles.end());
  if (indices.size() > 1) throw_invalid(dir.string() + ": more than one *.safetensors.index.json");
  if (indices.size() == 1) {
    auto index = read_json_if_present(indices[0]);
    if (!index || !index->contains("weight_map") || !(*index)["weight_map"].is_object())
      throw_invalid(indices[0].string() + ": no \"weight_map\" object");
    std::map<std::string, std::string> map;
    std::set<std::string> shards;
    for (const auto& [k, v] : (*index)["weight_map"].items()) {
      if (!v.is_string()) throw_invalid(indices[0].string() + ": weight_map entry '" + k + "' is not a file name");
      const std::string shard = v.get<std::string>();
      if (shard.find('/') != std::string::npos || shard == "..")
        throw_invalid(indices[0].string() + ": shard name '" + shard + "' must be a file in the same folder");
      map[k] = shard;
      shards.insert(shard);
    }
    for (const auto& s : shards) {
      if (!fs::is_regular_file(dir / s, ec)) throw_invalid(indices[0].string() + ": shard " + s + " is missing");
      w.add_file(dir / s, &map);
    }
    for (const auto& [k, s] : map)
      if (!w.entries_.count(k)) throw_invalid(indices[0].string() + ": tensor '" + k + "' is not in shard " + s);
    return w;
  }
  if (singles.empty()) {
    throw_invalid(dir.string() + ": no .safetensors weights here" +
                  (component.empty() ? std::string() : " (looked for the '" + component + "' component)"));
  }
  // Prefer the diffusers file names; otherwise a folder must hold exactly one weights file.
  for (const char* preferred : {"diffusion_pytorch_model.safetensors", "model.safetensors"}) {
    if (fs::is_regular_file(dir / preferred, ec)) {
      w.add_file(dir / preferred);
      return w;
    }
  }
  if (singles.size() > 1)
    throw_invalid(dir.string() + ": several .safetensors files and no index; point at one file or add an index");
  w.add_file(singles[0]);
  return w;
}

std::vector<std::string> WeightSource::names() const {
  std::vector<std::string> n;
  for (const auto& [k, e] : entries_) n.push_back(k);
  return n;
}

const TensorInfo* WeightSource::find(std::string_view name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.info;
}

const TensorInfo& WeightSource::info(std::string_view name) const {
  const TensorInfo* t = find(name);
  if (!t) throw_invalid(origin_ + ": missing tensor '" + std::string(name) + "'");
  return *t;
}

std::span<const uint8_t> WeightSource::bytes(std::string_view name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw_invalid(origin_ + ": missing tensor '" + std::string(name) + "'");
  if (it->second.owned) return {it->second.owned->data.data(), it->second.owned->data.size()};
  return it->second.file->view(*it->second.info);
}

void WeightSource::rename(const std::string& from, const std::string& to) {
  auto it = entries_.find(from);
  if (it == entries_.end()) throw_invalid(origin_ + ": missing tensor '" + from + "'");
  const Entry e = it->second;
  entries_.erase(it);
  if (!entries_.emplace(to, e).second) throw_invalid(origin_ + ": tensor '" + to + "' already exists");
}

void WeightSource::add_rows(const std::string& to, const std::string& from, int64_t begin, int64_t end) {
  auto it = entries_.find(from);
  if (it == entries_.end()) throw_invalid(origin_ + ": missing tensor '" + from + "'");
  const Entry src = it->second;
  const TensorInfo& t = *src.info;
  if (t.shape.empty() || begin < 0 || end > t.shape[0] || begin >= end)
    throw_invalid(origin_ + ": rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") of '" + from + "' " +
                  HostTensor{t.dtype, t.shape, {}}.shape_string() + " do not exist");
  const uint64_t row_bytes = (t.end - t.begin) / static_cast<uint64_t>(t.shape[0]);
  TensorInfo v = t;
  v.name = to;
  v.shape[0] = end - begin;
  v.begin = t.begin + static_cast<uint64_t>(begin) * row_bytes;
  v.end = t.begin + static_cast<uint64_t>(end) * row_bytes;
  if (src.owned) {
    HostTensor h{t.dtype, v.shape, {}};
    h.data.assign(src.owned->data.begin() + static_cast<std::ptrdiff_t>(static_cast<uint64_t>(begin) * row_bytes),
                  src.owned->data.begin() + static_cast<std::ptrdiff_t>(static_cast<uint64_t>(end) * row_bytes));
    add_owned(to, std::move(h));
    return;
  }
  derived_infos_.push_back(std::move(v));
  if (!entries_.emplace(to, Entry{src.file, &derived_infos_.back()}).second)
    throw_invalid(origin_ + ": tensor '" + to + "' already exists");
}

void WeightSource::add_owned(const std::string& to, HostTensor t) {
  TensorInfo info;
  info.name = to;
  info.dtype = t.dtype;
  info.shape = t.shape;
  info.begin = 0;
  info.end = t.data.size();
  owned_.emplace_back(std::move(info), std::move(t));
  if (!entries_.emplace(to, Entry{nullptr, &owned_.back().first, &owned_.back().second}).second)
    throw_invalid(origin_ + ": tensor '" + to + "' already exists");
}

void WeightSource::remove(const std::string& name) { entries_.erase(name); }

std::shared_ptr<WeightSource> WeightSource::derived(std::shared_ptr<const WeightSource> base) {
  auto w = std::make_shared<WeightSource>();
  // The entries point into base's files and deques, whose elements never move; base_ keeps them alive.
  w->entries_ = base->entries_;
  w->config_ = base->config_;
  w->origin_ = base->origin_;
  w->base_ = std::move(base);
  return w;
}

HostTensor WeightSource::load(std::string_view name) const {
  const TensorInfo& t = info(name);
  HostTensor h;
  h.dtype = t.dtype;
  h.shape = t.shape;
  auto b = bytes(name);
  h.data.assign(b.begin(), b.end());
  return h;
}

std::vector<float> WeightSource::load_f32(std::string_view name) const {
  const TensorInfo& t = info(name);
  HostTensor shape_only{t.dtype, t.shape, {}};
  return to_f32(t.dtype, bytes(name), static_cast<size_t>(shape_only.numel()));
}

uint64_t WeightSource::total_bytes() const {
  uint64_t n = 0;
  for (const auto& [k, e] : entries_) n += e.info->end - e.info->begin;
  return n;
}

int WeightSource::count_blocks(std::string_view prefix) const {
  std::set<int> seen;
  for (auto it = entries_.lower_bound(prefix); it != entries_.end() && it->first.starts_with(prefix); ++it) {
    const std::string rest = it->first.substr(prefix.size());
    size_t i = 0;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) ++i;
    if (i > 0 && i < rest.size() && rest[i] == '.') seen.insert(std::stoi(rest.substr(0, i)));
  }
  // Blocks must be numbered 0..N-1 without gaps; a gap means a damaged checkpoint.
  int n = 0;
  for (int v : seen) {
    if (v != n) throw_invalid(origin_ + ": block " + std::string(prefix) + std::to_string(n) + " is missing");
    ++n;
  }
  return n;
}

size_t WeightSource::strip_prefix(const std::string& prefix) {
  std::map<std::string, Entry, std::less<>> out;
  size_t changed = 0;
  for (auto& [k, e] : entries_) {
    std::string name = k;
    if (name.starts_with(prefix)) {
      name = name.substr(prefix.size());
      ++changed;
    }
    if (!out.emplace(name, e).second) throw_invalid(origin_ + ": stripping '" + prefix + "' makes '" + name + "' ambiguous");
  }
  entries_ = std::move(out);
  return changed;
}

std::optional<nlohmann::json> component_config(const fs::path& path, const std::string& component) {
  std::error_code ec;
  if (!component.empty() && fs::is_regular_file(path / component / "config.json", ec))
    return read_json_if_present(path / component / "config.json");
  return read_json_if_present(path / "config.json");
}

}  // namespace lattice
