#include "gpu/ops/concat.h"

#include <string>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"

namespace lattice::gpu {

Tensor concat(CommandStream& stream, std::span<const Tensor> inputs, int dim) {
  if (inputs.empty()) throw_unsupported("concat of no tensors");
  const Tensor& first = inputs[0];
  auto d = static_cast<size_t>(normalize_dim(dim, first.rank(), "concat"));
  Shape shape = first.shape();
  shape[d] = 0;
  Shape want = first.shape();
  want[d] = 0;
  for (const Tensor& t : inputs) {
    Shape s = t.shape();
    if (t.rank() == first.rank()) s[d] = 0;
    if (s != want || t.dtype() != first.dtype())
      throw_unsupported("concat along dim " + std::to_string(d) + ": " + t.describe() + " does not match " +
                        first.describe());
    shape[d] += t.shape()[d];
  }
  Tensor out = Tensor::empty(stream.context(), shape, first.dtype());
  int64_t start = 0;
  for (const Tensor& t : inputs) {
    if (t.numel() > 0) copy_into(stream, t, narrow(out, static_cast<int>(d), start, t.shape()[d]));
    start += t.shape()[d];
  }
  return out;
}

}  // namespace lattice::gpu
