#pragma once
// Forces one kernel variant of an op (gpu/variant.h: set_kernel_override, as LATTICE_KERNEL_<OP> would) while the
// object lives, for tests that run every variant of an op on one device; the previous choice comes back at the
// end of the scope.
#include <cctype>
#include <string>

#include "gpu/variant.h"

namespace lattice::test {

class ScopedKernelVariant {
 public:
  /// `op` as the variable names it (e.g. "MODULATE"); an empty `variant` clears the choice (automatic).
  ScopedKernelVariant(const std::string& op, const std::string& variant) {
    for (char c : op) op_ += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    old_ = gpu::kernel_override(op_);
    gpu::set_kernel_override(op_, variant);
  }
  ~ScopedKernelVariant() { gpu::set_kernel_override(op_, old_); }
  ScopedKernelVariant(const ScopedKernelVariant&) = delete;
  ScopedKernelVariant& operator=(const ScopedKernelVariant&) = delete;

 private:
  std::string op_, old_;
};

}  // namespace lattice::test
