#pragma once
// Plain C++ convolution reference for conv2d_test and conv3d_test: a direct loop in double over the
// logical input described in gpu/ops/conv3d.h (cache, time padding modes, per-side zero padding).

#include <string_view>
#include <vector>

#include "gpu/context.h"
#include "gpu/ops/conv3d.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu::testing {

struct ConvDims {
  int64_t n, cin, t, h, w, cout, kt, kh, kw;
  int64_t tc = 0;  // cache frames
};

/// y [N, Cout, To, Ho, Wo] of x [N, Cin, T, H, W], weight [Cout, Cin, kt, kh, kw], bias [Cout] or empty,
/// cache [N, Cin, Tc, H, W] or empty.
inline std::vector<float> conv3d_reference(const ConvDims& d, const Conv3dParams& p, const std::vector<float>& x,
                                           const std::vector<float>& weight, const std::vector<float>& bias,
                                           const std::vector<float>& cache) {
  const int64_t tp = d.t + p.pad_front + p.pad_back, hp = d.h + p.pad_top + p.pad_bottom, wp = d.w + p.pad_left + p.pad_right;
  const int64_t ot = (tp - d.kt) / p.stride_t + 1, oh = (hp - d.kh) / p.stride_h + 1, ow = (wp - d.kw) / p.stride_w + 1;
  const bool rep = p.time_padding == TimePadding::Replicate;
  // The plane [Cin][H][W] of logical frame tl for batch nb: {source, frame, frames in source}, or null.
  auto frame_at = [&](int64_t nb, int64_t tl, int64_t c) -> const float* {
    int64_t tx = tl - p.pad_front;
    const size_t plane = static_cast<size_t>(d.h * d.w);
    auto xf = [&](int64_t f) { return x.data() + static_cast<size_t>((nb * d.cin + c) * d.t + f) * plane; };
    auto cf = [&](int64_t f) { return cache.data() + static_cast<size_t>((nb * d.cin + c) * d.tc + f) * plane; };
    if (tx >= d.t) return rep ? xf(d.t - 1) : nullptr;
    if (tx >= 0) return xf(tx);
    if (d.tc + tx >= 0) return cf(d.tc + tx);
    if (!rep) return nullptr;
    return d.tc > 0 ? cf(0) : xf(0);
  };
  std::vector<float> y(static_cast<size_t>(d.n * d.cout * ot * oh * ow));
  size_t i = 0;
  for (int64_t nb = 0; nb < d.n; ++nb)
    for (int64_t co = 0; co < d.cout; ++co)
      for (int64_t to = 0; to < ot; ++to)
        for (int64_t yo = 0; yo < oh; ++yo)
          for (int64_t xo = 0; xo < ow; ++xo) {
            double s = bias.empty() ? 0.0 : bias[static_cast<size_t>(co)];
            for (int64_t ci = 0; ci < d.cin; ++ci)
              for (int64_t dt = 0; dt < d.kt; ++dt) {
                const float* f = frame_at(nb, to * p.stride_t + dt, ci);
                if (!f) continue;
                for (int64_t dy = 0; dy < d.kh; ++dy) {
                  int64_t iy = yo * p.stride_h + dy - p.pad_top;
                  if (iy < 0 || iy >= d.h) continue;
                  for (int64_t dx = 0; dx < d.kw; ++dx) {
                    int64_t ix = xo * p.stride_w + dx - p.pad_left;
                    if (ix < 0 || ix >= d.w) continue;
                    s += double(f[iy * d.w + ix]) *
                         weight[static_cast<size_t>((((co * d.cin + ci) * d.kt + dt) * d.kh + dy) * d.kw + dx)];
                  }
                }
              }
            y[i++] = static_cast<float>(s);
          }
  return y;
}

/// The variants to cover on this device: "direct" everywhere, "texel" on CPU devices.
inline std::vector<std::string_view> conv_variants(Context& ctx) {
  std::vector<std::string_view> v = {"direct"};
  if (ctx.device().info().is_cpu()) v.push_back("texel");
  return v;
}

/// Random weights in [-1, 1) as a device tensor of `dtype`; `values` receives them rounded to `dtype`,
/// as the device sees them.
inline Tensor random_weights(Context& ctx, const Shape& shape, uint32_t seed, DType dtype, std::vector<float>& values) {
  values = random_floats(static_cast<size_t>(numel(shape)), seed);
  std::vector<std::byte> raw(values.size() * dtype_bytes(dtype));
  encode(dtype, values, raw.data());
  decode(dtype, raw.data(), values);
  return Tensor::from_bytes(ctx, raw, shape, dtype);
}

}  // namespace lattice::gpu::testing
