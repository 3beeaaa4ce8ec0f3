#pragma once
/// 2-D convolution (groups 1, dilation 1), as in the FLUX AutoencoderKL: zero padding per side, stride.
///
/// Layouts. x: f32 [N, Cin, H, W] (NCHW), contiguous (any offset). weight: [Cout, Cin, kh, kw] in f32, f16
/// or bf16, contiguous. bias: f32 [Cout] or undefined. Result: a new contiguous f32 tensor [N, Cout, Ho, Wo],
/// Ho = (H + pad_top + pad_bottom - kh) / stride_h + 1, Wo likewise. FLUX's encoder downsampling is
/// {stride 2, pad_bottom = pad_right = 1} with a 3x3 kernel.
///
/// It is conv3d (conv3d.h) over a single frame: same kernels, variants ("texel", "direct"; forced by
/// LATTICE_KERNEL_CONV3D or `variant`), accuracy and errors. Records dispatches only.

#include <string_view>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;

  /// `pad` zeros on every side, stride `stride`.
  static Conv2dParams uniform(int pad, int stride = 1) { return {stride, stride, pad, pad, pad, pad}; }
};

Tensor conv2d(CommandStream& stream, const Tensor& x, const Tensor& weight, const Tensor& bias = {},
              const Conv2dParams& params = {}, std::string_view variant = {});

}  // namespace lattice::gpu
