#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"

namespace lattice {

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : name_(path.string()) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_invalid(name_ + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_invalid(name_ + ": not a regular file");
  }
  map_size_ = static_cast<size_t>(st.st_size);
  if (map_size_ < 8) {
    ::close(fd);
    throw_invalid(name_ + ": too short to be a safetensors file (" + std::to_string(map_size_) + " bytes)");
  }
  map_ = ::mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw_invalid(name_ + ": cannot map: " + std::strerror(errno));
  }
  try {
    parse({static_cast<const uint8_t*>(map_), map_size_});
  } catch (...) {
    ::munmap(map_, map_size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::SafetensorsFile(std::span<const uint8_t> bytes, std::string name) : name_(std::move(name)) {
  parse(bytes);
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

void SafetensorsFile::parse(std::span<const uint8_t> file) {
  if (file.size() < 8) throw_invalid(name_ + ": too short to be a safetensors file");
  uint64_t header_len = 0;
  std::memcpy(&header_len, file.data(), 8);
  if (header_len > file.size() - 8)
    throw_invalid(name_ + ": header length " + std::to_string(header_len) + " exceeds the file size " +
                  std::to_string(file.size()));
  const char* hp = reinterpret_cast<const char*>(file.data() + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(hp, hp + header_len);
  } catch (const std::exception& e) {
    throw_invalid(name_ + ": malformed header JSON: " + e.what());
  }
  if (!header.is_object()) throw_invalid(name_ + ": header is not a JSON object");
  data_ = file.data() + 8 + header_len;
  data_size_ = file.size() - 8 - header_len;

  for (const auto& [key, v] : header.items()) {
    if (key == "__metadata__") {
      if (!v.is_object()) throw_invalid(name_ + ": __metadata__ is not an object");
      for (const auto& [mk, mv] : v.items()) {
        if (!mv.is_string()) throw_invalid(name_ + ": __metadata__ value '" + mk + "' is not a string");
        metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    const std::string who = name_ + ": tensor '" + key + "'";
    if (!v.is_object()) throw_invalid(who + ": entry is not an object");
    TensorInfo t;
    t.name = key;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) throw_invalid(who + ": missing dtype");
    auto dtype = dtype_from_name(dt->get<std::string>());
    if (!dtype) throw_invalid(who + ": unknown dtype '" + dt->get<std::string>() + "'");
    t.dtype = *dtype;
    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) throw_invalid(who + ": missing shape");
    if (sh->size() > 16) throw_invalid(who + ": rank " + std::to_string(sh->size()) + " is over 16");
    // Element count with overflow checks: the product must fit, and so must product * element size.
    unsigned __int128 count = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0))
        throw_invalid(who + ": shape entries must be non-negative integers");
      const uint64_t dim = d.get<uint64_t>();
      t.shape.push_back(static_cast<int64_t>(dim));
      count *= dim;
      if (count > (static_cast<unsigned __int128>(1) << 62)) throw_invalid(who + ": shape is too large");
    }
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      throw_invalid(who + ": data_offsets must be [begin, end]");
    t.begin = (*off)[0].get<uint64_t>();
    t.end = (*off)[1].get<uint64_t>();
    if (t.begin > t.end || t.end > data_size_)
      throw_invalid(who + ": byte range [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                    ") is outside the data section of " + std::to_string(data_size_) + " bytes");
    const unsigned __int128 expect = count * dtype_size(t.dtype);
    if (expect != t.end - t.begin)
      throw_invalid(who + ": shape " + HostTensor{t.dtype, t.shape, {}}.shape_string() + " of " +
                    std::string(dtype_name(t.dtype)) + " needs " + std::to_string(static_cast<uint64_t>(expect)) +
                    " bytes but the file gives " + std::to_string(t.end - t.begin));
    tensors_.push_back(std::move(t));
  }
  std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < tensors_.size(); ++i) {
    const auto& p = tensors_[i - 1];
    const auto& c = tensors_[i];
    if (c.begin < p.end && c.end > c.begin && p.end > p.begin)
      throw_invalid(name_ + ": tensors '" + p.name + "' and '" + c.name + "' overlap");
  }
  for (const auto& t : tensors_) index_[t.name] = t.name;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

std::span<const uint8_t> SafetensorsFile::view(const TensorInfo& t) const {
  return {data_ + t.begin, static_cast<size_t>(t.end - t.begin)};
}

HostTensor SafetensorsFile::load(std::string_view name) const {
  const TensorInfo* t = find(name);
  if (!t) throw_invalid(name_ + ": no tensor named '" + std::string(name) + "'");
  HostTensor h;
  h.dtype = t->dtype;
  h.shape = t->shape;
  auto v = view(*t);
  h.data.assign(v.begin(), v.end());
  return h;
}

std::string encode_safetensors(const std::vector<std::pair<std::string, const HostTensor*>>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (t->data.size() != static_cast<size_t>(t->numel()) * dtype_size(t->dtype))
      throw_eval("tensor '" + name + "': byte size does not match its shape");
    header[name] = {{"dtype", dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + t->data.size()}}};
    offset += t->data.size();
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string out;
  const uint64_t len = h.size();
  out.append(reinterpret_cast<const char*>(&len), 8);
  out += h;
  for (const auto& [name, t] : tensors) out.append(reinterpret_cast<const char*>(t->data.data()), t->data.size());
  return out;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, const HostTensor*>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, encode_safetensors(tensors, metadata));
}

}  // namespace lattice
