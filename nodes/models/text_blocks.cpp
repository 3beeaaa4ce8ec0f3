#include "nodes/models/text_blocks.h"

#include <cstring>

#include "core/error.h"
#include "core/types/tensor.h"

namespace lattice {

std::vector<float> embedding_rows(const WeightSource& w, const std::string& name, std::span<const int32_t> ids) {
  const TensorInfo& info = w.info(name);
  if (info.shape.size() != 2)
    throw_invalid(w.origin() + ": embedding table '" + name + "' should be 2-D, it has shape " +
                  HostTensor{DType::F32, info.shape, {}}.shape_string());
  const int64_t rows = info.shape[0], width = info.shape[1];
  const size_t esize = dtype_size(info.dtype);
  const auto bytes = w.bytes(name);
  std::vector<float> out(ids.size() * static_cast<size_t>(width));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= rows)
      throw_invalid(w.origin() + ": token id " + std::to_string(ids[i]) + " is outside the embedding table '" + name +
                    "' (" + std::to_string(rows) + " rows)");
    const uint8_t* src = bytes.data() + static_cast<size_t>(ids[i]) * static_cast<size_t>(width) * esize;
    float* dst = out.data() + i * static_cast<size_t>(width);
    for (int64_t c = 0; c < width; ++c, src += esize) {
      switch (info.dtype) {
        case DType::F32: std::memcpy(&dst[c], src, 4); break;
        case DType::F16: { uint16_t h; std::memcpy(&h, src, 2); dst[c] = half_to_float(h); break; }
        case DType::BF16: { uint16_t h; std::memcpy(&h, src, 2); dst[c] = bf16_to_float(h); break; }
        default:
          throw_invalid(w.origin() + ": embedding table '" + name + "' has dtype " + std::string(dtype_name(info.dtype)) +
                        "; f32, f16 and bf16 are supported");
      }
    }
  }
  return out;
}

TokenRows token_rows(std::span<const TokenBatch> prompts) {
  TokenRows r;
  for (const TokenBatch& p : prompts) {
    if (p.ids.size() != prompts[0].ids.size() || p.attention_mask.size() != p.ids.size())
      throw_eval("text encoder: prompt " + std::to_string(r.batch) + " has " + std::to_string(p.ids.size()) + " ids and " +
                 std::to_string(p.attention_mask.size()) + " mask entries; prompt 0 has " + std::to_string(prompts[0].ids.size()) +
                 " ids (pad every prompt to one length)");
    r.ids.insert(r.ids.end(), p.ids.begin(), p.ids.end());
    r.mask.insert(r.mask.end(), p.attention_mask.begin(), p.attention_mask.end());
    ++r.batch;
  }
  return r;
}

int64_t tensor_dim(const WeightSource& w, const std::string& name, size_t axis) {
  const TensorInfo& t = w.info(name);
  if (t.shape.size() <= axis)
    throw_invalid(w.origin() + ": tensor '" + name + "' has rank " + std::to_string(t.shape.size()) + ", expected more than " +
                  std::to_string(axis));
  return t.shape[axis];
}

}  // namespace lattice
