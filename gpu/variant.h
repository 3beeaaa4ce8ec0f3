#pragma once
/// Run-time kernel choice, one mechanism for every op.
///
/// An op lists its variants best first; each has a name and a predicate over the device and the problem
/// (shapes, dtypes). The first variant that applies and is not `forced_only` is used.
/// LATTICE_KERNEL_<OP>=<variant> (OP upper-case, e.g. LATTICE_KERNEL_MATMUL=portable) or a non-empty
/// `forced` argument picks one by name instead: tests use it to cover every variant on one device, benchmarks
/// to compare them. A forced variant that does not apply is an Unsupported error, never a silent fallback.
/// The environment is read once per op and process (ops choose on every dispatch); set_kernel_override
/// replaces that choice later in the process (tests/support/kernel_variant.h, benchmarks). Both thread-safe. A
/// `forced_only` variant (e.g. one whose pipelines take too long to compile to be chosen unasked) runs only
/// when named. A name may be listed twice: once chosen automatically under a narrower predicate (where it was
/// measured to win), once forced_only under everything it can run.

#include <span>
#include <string>
#include <string_view>

#include "gpu/device.h"
#include "gpu/error.h"

namespace lattice::gpu {

/// The variant forced for `op` (lower-case, as choose_variant names it): set_kernel_override's, else
/// LATTICE_KERNEL_<OP>'s as read on the first call for `op`; empty when none is (automatic choice).
std::string kernel_override(std::string_view op);
/// Forces `variant` for `op` from now on in this process; an empty `variant` restores the automatic choice.
void set_kernel_override(std::string_view op, std::string_view variant);

template <class Problem>
struct Variant {
  std::string_view name;
  bool (*applies)(const Device& device, const Problem& problem);
  bool forced_only = false;  ///< never chosen automatically, only by name
};

/// The predicate of a variant that runs every problem (an op's last, portable one).
template <class Problem>
bool always(const Device&, const Problem&) {
  return true;
}

template <class Problem>
const Variant<Problem>& choose_variant(std::string_view op, std::span<const Variant<Problem>> variants,
                                       const Device& device, const Problem& problem, std::string_view forced = {}) {
  const std::string want = forced.empty() ? kernel_override(op) : std::string(forced);
  bool named = false;
  for (const auto& v : variants) {
    if (want.empty() ? v.forced_only : v.name != want) continue;
    named = true;
    if (v.applies(device, problem)) return v;
  }
  if (!want.empty() && named)
    throw_unsupported(std::string(op) + " variant '" + want + "' does not apply to this problem on '" +
                      device.info().name + "'");
  throw_unsupported(want.empty() ? std::string(op) + ": no variant applies on '" + device.info().name + "'"
                                 : std::string(op) + ": no variant named '" + want + "'");
}

}  // namespace lattice::gpu
