#include "gpu/ops/upsample.h"

#include <string>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"

namespace lattice::gpu {

Tensor upsample_nearest(CommandStream& stream, const Tensor& x, std::span<const int64_t> factors) {
  size_t k = factors.size();
  if (k < 1 || k > 3 || x.rank() != static_cast<int>(k) + 2)
    throw_unsupported("upsample_nearest of " + x.describe() + " by " + std::to_string(k) +
                      " factors: needs [N, C, spatial...] with 1 to 3 spatial dims");
  // Source view [N, C, S1, f1, .., Sk, fk] repeating each element f times (stride 0); the output is
  // contiguous [N, C, S1·f1, ..], i.e. exactly that shape flattened.
  Shape view_shape = {x.dim(0), x.dim(1)}, view_strides = {x.strides()[0], x.strides()[1]};
  Shape out_shape = view_shape;
  for (size_t i = 0; i < k; ++i) {
    if (factors[i] < 1) throw_unsupported("upsample_nearest: factor " + std::to_string(factors[i]) + " < 1");
    view_shape.insert(view_shape.end(), {x.shape()[i + 2], factors[i]});
    view_strides.insert(view_strides.end(), {x.strides()[i + 2], 0});
    out_shape.push_back(x.shape()[i + 2] * factors[i]);
  }
  Tensor out = Tensor::empty(stream.context(), out_shape, x.dtype());
  copy_into(stream, x.view(view_shape, view_strides, x.offset()), out.reshape(view_shape));
  return out;
}

}  // namespace lattice::gpu
