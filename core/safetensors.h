#pragma once
/// Safetensors files: a read-only memory-mapped reader that validates everything before any tensor is
/// touched, and an atomic writer.
///
/// Validation on open (each failure is Error(InvalidInput) naming the file and, where there is one, the
/// tensor): the 8-byte header length fits inside the file; the header is well-formed JSON (an object);
/// every entry has a known dtype, a shape of non-negative integers, and data_offsets [begin, end] with
/// begin <= end <= data section size; end - begin equals the element count times the dtype size (with
/// overflow checks); no two tensors' byte ranges overlap; `__metadata__`, if present, maps strings to
/// strings. After a successful open every view() lies inside the mapping, so nothing reads out of bounds.
/// The mapping lives as long as the SafetensorsFile (views borrow from it). Thread-safe for reading.

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/types/tensor.h"

namespace lattice {

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  ///< byte range inside the data section
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  /// Maps and validates a file. Throws Error(InvalidInput).
  explicit SafetensorsFile(const std::filesystem::path& path);
  /// Validates an in-memory image of a file (fuzzing, tests); `bytes` must outlive this object.
  SafetensorsFile(std::span<const uint8_t> bytes, std::string name);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& name() const { return name_; }
  /// Tensors in file order (sorted by offset).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;
  /// The tensor's bytes inside the mapping.
  std::span<const uint8_t> view(const TensorInfo& t) const;
  /// A host copy of one tensor (throws if absent).
  HostTensor load(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  void parse(std::span<const uint8_t> file);
  std::string name_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section
  size_t data_size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

/// Writes named tensors (and optional metadata) atomically.
void write_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, const HostTensor*>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
/// The bytes of a safetensors file holding these tensors.
std::string encode_safetensors(const std::vector<std::pair<std::string, const HostTensor*>>& tensors,
                               const std::map<std::string, std::string>& metadata = {});

}  // namespace lattice
