#include "gpu/ops/pixel_shuffle.h"

#include <string>
#include <vector>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"

namespace lattice::gpu {

static void check(const Tensor& x, std::span<const int64_t> factors, const char* op) {
  if (factors.empty() || factors.size() > 3 || x.rank() != static_cast<int>(factors.size()) + 2)
    throw_unsupported(std::string(op) + " of " + x.describe() + " by " + std::to_string(factors.size()) +
                      " factors: needs [N, C, spatial...] with 1 to 3 spatial dims");
  for (int64_t r : factors)
    if (r < 1) throw_unsupported(std::string(op) + ": factor " + std::to_string(r) + " < 1");
}

Tensor depth_to_space(CommandStream& stream, const Tensor& x, std::span<const int64_t> factors) {
  check(x, factors, "depth_to_space");
  size_t k = factors.size();
  int64_t block = 1;
  for (int64_t r : factors) block *= r;
  if (x.dim(1) % block != 0)
    throw_unsupported("depth_to_space of " + x.describe() + ": channels not divisible by " + std::to_string(block));
  // [N, C, r1..rk, S1..Sk] → permuted to [N, C, S1, r1, .., Sk, rk], which is the output's layout.
  std::vector<int64_t> split = {x.dim(1) / block};
  split.insert(split.end(), factors.begin(), factors.end());
  Tensor v = unflatten(x, 1, split);
  std::vector<int> perm = {0, 1};
  Shape out_shape = {x.dim(0), split[0]};
  for (size_t i = 0; i < k; ++i) {
    perm.push_back(static_cast<int>(2 + k + i));
    perm.push_back(static_cast<int>(2 + i));
    out_shape.push_back(x.dim(static_cast<int>(2 + i)) * factors[i]);
  }
  Tensor src = permute(v, perm);
  Tensor out = Tensor::empty(stream.context(), out_shape, x.dtype());
  copy_into(stream, src, out.reshape(src.shape()));
  return out;
}

Tensor space_to_depth(CommandStream& stream, const Tensor& x, std::span<const int64_t> factors) {
  check(x, factors, "space_to_depth");
  size_t k = factors.size();
  // [N, C, S1, r1, .., Sk, rk] → permuted to [N, C, r1..rk, S1..Sk], the output's layout.
  Tensor v = x;
  Shape out_shape = {x.dim(0), x.dim(1)};
  for (size_t i = k; i-- > 0;) {  // innermost first, so earlier dim indices stay valid
    int64_t r = factors[i], s = x.dim(static_cast<int>(2 + i));
    if (s % r != 0)
      throw_unsupported("space_to_depth of " + x.describe() + ": dim " + std::to_string(2 + i) +
                        " not divisible by " + std::to_string(r));
    v = unflatten(v, static_cast<int>(2 + i), {s / r, r});
  }
  std::vector<int> perm = {0, 1};
  for (size_t i = 0; i < k; ++i) perm.push_back(static_cast<int>(3 + 2 * i));
  for (size_t i = 0; i < k; ++i) perm.push_back(static_cast<int>(2 + 2 * i));
  Tensor src = permute(v, perm);
  for (size_t i = 0; i < k; ++i) out_shape[1] *= factors[i];
  for (size_t i = 0; i < k; ++i) out_shape.push_back(x.dim(static_cast<int>(2 + i)) / factors[i]);
  Tensor out = Tensor::empty(stream.context(), out_shape, x.dtype());
  copy_into(stream, src, out.reshape(src.shape()));
  return out;
}

}  // namespace lattice::gpu
