#pragma once
/// 3-D convolution (groups 1, dilation 1) for video VAEs: Wan's causal conv with a frame cache, LTX-Video's
/// replicate-padded causal conv, and plain zero-padded conv3d. conv2d (conv2d.h) is this op with one frame.
///
/// Layouts. x: f32 [N, Cin, T, H, W] (NCDHW), contiguous (any offset). weight: [Cout, Cin, kt, kh, kw] in
/// f32, f16 or bf16, contiguous (16-bit: even offset). bias: f32 [Cout] or undefined. Result: a new
/// contiguous f32 tensor [N, Cout, To, Ho, Wo] with
///   To = (T + pad_front + pad_back - kt) / stride_t + 1,  Ho = (H + pad_top + pad_bottom - kh) / stride_h + 1,
///   Wo likewise; every padded extent must be at least its kernel size.
///
/// Time padding. The conv sees the frames [front context (pad_front)][x][back (pad_back)]. Front frames
/// are zeros, or with TimePadding::Replicate copies of the earliest real frame; back frames are zeros or
/// copies of x's last frame. `cache` (f32 [N, Cin, Tc, H, W], Tc <= pad_front, contiguous) replaces the
/// LAST Tc front frames: it is the tail of the previous chunk, so a causal conv over a sequence cut into
/// chunks, each given the previous chunk's conv3d_cache_tail(), equals the conv over the whole sequence.
/// Wan: pad_front = kt - 1, Zeros, cache = last 2 input frames of the previous chunk (none for the first).
/// LTX encoder: pad_front = kt - 1, Replicate. LTX decoder: pad_front = pad_back = (kt - 1) / 2, Replicate.
/// Spatial padding is always zeros, per side.
///
/// Accuracy: f32 accumulation (weights decoded to f32 exactly). Records dispatches only, nothing is
/// submitted. Throws DeviceError(Unsupported) for bad shapes or dtypes, naming the tensors.
///
/// Variants (gpu/variant.h; LATTICE_KERNEL_CONV3D or `variant` forces one; conv2d uses the same):
///  - "texel": packs the padded input and the weights channels-last (one pass each), then an implicit GEMM
///    over texel buffers, 16 pixels x 128 channels per workgroup. Chosen on CPU devices (lavapipe). Needs
///    RGBA32F texel buffers and packed sizes within maxTexelBufferElements.
///  - "direct": one invocation per output element over storage buffers; applies everywhere.

#include <string_view>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

enum class TimePadding { Zeros, Replicate };

struct Conv3dParams {
  int stride_t = 1, stride_h = 1, stride_w = 1;
  int pad_front = 0, pad_back = 0;  ///< frames before and after x
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  TimePadding time_padding = TimePadding::Zeros;

  /// Causal in time (kt - 1 frames in front, none behind), `ph`/`pw` zeros on both sides spatially.
  static Conv3dParams causal(int kt, int ph, int pw, TimePadding mode = TimePadding::Zeros) {
    Conv3dParams p;
    p.pad_front = kt - 1;
    p.pad_top = p.pad_bottom = ph;
    p.pad_left = p.pad_right = pw;
    p.time_padding = mode;
    return p;
  }
  /// Symmetric padding on every axis.
  static Conv3dParams same(int pt, int ph, int pw, TimePadding mode = TimePadding::Zeros) {
    Conv3dParams p = causal(1, ph, pw, mode);
    p.pad_front = p.pad_back = pt;
    return p;
  }
};

Tensor conv3d(CommandStream& stream, const Tensor& x, const Tensor& weight, const Tensor& bias = {},
              const Conv3dParams& params = {}, const Tensor& cache = {}, std::string_view variant = {});

/// The cache to pass with the next chunk: the last `frames` frames of [cache][x] along time (fewer when
/// the two hold fewer), as a new f32 [N, C, min(frames, Tc + T), H, W]. `cache` may be undefined. This is
/// Wan's rule: a 1-frame chunk's tail is the previous cache's last frame followed by that frame.
Tensor conv3d_cache_tail(CommandStream& stream, const Tensor& x, const Tensor& cache, int frames);

}  // namespace lattice::gpu
