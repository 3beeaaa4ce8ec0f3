#include "gpu/variant.h"

#include <cctype>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>

namespace lattice::gpu {

namespace {

// Per op: the variant forced for it ("" = automatic), filled from the environment on first use.
struct Overrides {
  std::mutex mutex;
  std::map<std::string, std::string, std::less<>> by_op;
};

Overrides& overrides() {
  static Overrides o;
  return o;
}

}  // namespace

std::string kernel_override(std::string_view op) {
  Overrides& o = overrides();
  std::lock_guard lock(o.mutex);
  if (auto it = o.by_op.find(op); it != o.by_op.end()) return it->second;
  std::string env_name = "LATTICE_KERNEL_";
  for (char c : op) env_name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const char* env = std::getenv(env_name.c_str());
  return o.by_op.emplace(std::string(op), env ? env : "").first->second;
}

void set_kernel_override(std::string_view op, std::string_view variant) {
  Overrides& o = overrides();
  std::lock_guard lock(o.mutex);
  o.by_op.insert_or_assign(std::string(op), std::string(variant));
}

}  // namespace lattice::gpu
