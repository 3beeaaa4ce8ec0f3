#include "gpu/ops/texel_operands.h"

#include "gpu/allocator.h"

namespace lattice::gpu {

TexelOperands::TexelOperands(const Device& device)
    : device_(device), ok_(device.info().is_cpu() && device.supports_uniform_texel(kTexelFormat)) {}

TexelOperands& TexelOperands::aligned(std::initializer_list<uint64_t> counts) {
  for (uint64_t c : counts) ok_ = ok_ && c % 4 == 0;
  return *this;
}

TexelOperands& TexelOperands::rows(uint32_t rank, const uint32_t* shape, std::initializer_list<const uint32_t*> strides) {
  if (rank == 0) return require(false);
  aligned({shape[rank - 1]});
  for (const uint32_t* s : strides) {
    require(s[rank - 1] == 1);
    for (uint32_t d = 0; d + 1 < rank; ++d) aligned({s[d]});
  }
  return *this;
}

TexelOperands& TexelOperands::bound(std::initializer_list<const Tensor*> operands) {
  for (const Tensor* t : operands)
    if (ok_ && t->defined()) ok_ = t->buffer()->size() / 16 <= device_.info().max_texel_buffer_elements;
  return *this;
}

}  // namespace lattice::gpu
