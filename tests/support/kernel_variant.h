#pragma once
// Forces one kernel variant of an op (gpu/variant.h: LATTICE_KERNEL_<OP>) while the object lives, for tests that
// run every variant of an op on one device; the previous setting comes back at the end of the scope.
#include <cstdlib>
#include <optional>
#include <string>

namespace lattice::test {

class ScopedKernelVariant {
 public:
  /// `op` as the variable names it (e.g. "MODULATE"); an empty `variant` clears the choice (automatic).
  ScopedKernelVariant(const std::string& op, const std::string& variant) : name_("LATTICE_KERNEL_" + op) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (variant.empty())
      unsetenv(name_.c_str());
    else
      setenv(name_.c_str(), variant.c_str(), 1);
  }
  ~ScopedKernelVariant() {
    if (old_)
      setenv(name_.c_str(), old_->c_str(), 1);
    else
      unsetenv(name_.c_str());
  }
  ScopedKernelVariant(const ScopedKernelVariant&) = delete;
  ScopedKernelVariant& operator=(const ScopedKernelVariant&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace lattice::test
