#pragma once
/// Compositing of two interleaved images (the pixel work of the image.merge node), on the device and on
/// the CPU.
///
/// Layout: A is f32 [H, W, Ca], B is f32 [Hb, Wb, Cb], Ca and Cb in 1..4; the result is a new contiguous
/// [H, W, 4]. Both are read as RGBA (grey repeats into R, G, B; two channels are grey + alpha; missing alpha
/// is 1). B sits at the top-left: where it covers A, r = over (straight alpha), add, multiply or screen of
/// the colour channels (alpha: over composites it, the others keep A's); elsewhere r = A. Output =
/// A + (r - A) * mix. image_merge() rounds every operation as image_merge_cpu() does (bit-equal on
/// IEEE-conforming drivers). image_merge() records one dispatch; nothing is submitted.

#include <span>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

enum class MergeMode { Over, Add, Multiply, Screen };

/// Throws DeviceError unless both are contiguous f32 [H, W, 1..4].
Tensor image_merge(CommandStream& stream, const Tensor& a, const Tensor& b, MergeMode mode, float mix);

/// An interleaved image for the CPU twin: `pixels` holds height * width * channels floats.
struct ImageView {
  std::span<const float> pixels;
  int width = 0, height = 0, channels = 0;
};

/// The CPU twin: `out` holds a.height * a.width * 4 floats.
void image_merge_cpu(const ImageView& a, const ImageView& b, MergeMode mode, float mix, std::span<float> out);

}  // namespace lattice::gpu
