#include "gpu/ops/conv2d.h"

#include "gpu/error.h"
#include "gpu/ops/conv3d.h"

namespace lattice::gpu {

Tensor conv2d(CommandStream& stream, const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv2dParams& p, std::string_view variant) {
  if (x.rank() != 4 || weight.rank() != 4)
    throw_unsupported("conv2d of " + x.describe() + " with weight " + weight.describe() +
                      ": needs x [N, Cin, H, W] and weight [Cout, Cin, kh, kw]");
  // A single frame: views with a unit time axis (the checks on layouts and dtypes happen in conv3d).
  auto add_time = [](const Tensor& t) {
    const Shape& s = t.shape();
    const Shape& st = t.strides();
    return t.view({s[0], s[1], 1, s[2], s[3]}, {st[0], st[1], st[1], st[2], st[3]}, t.offset());
  };
  Conv3dParams p3;
  p3.stride_h = p.stride_h;
  p3.stride_w = p.stride_w;
  p3.pad_top = p.pad_top;
  p3.pad_bottom = p.pad_bottom;
  p3.pad_left = p.pad_left;
  p3.pad_right = p.pad_right;
  Tensor y = conv3d(stream, add_time(x), add_time(weight), bias, p3, {}, variant);
  return y.reshape({y.dim(0), y.dim(1), y.dim(3), y.dim(4)});
}

}  // namespace lattice::gpu
