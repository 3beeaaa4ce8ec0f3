#include "gpu/ops/image_merge.h"

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/image_merge_infos.h"
#include "gpu/shaders/image_merge.spv.h"

namespace lattice::gpu {

static_assert(sizeof(ImageMergePush) == 10 * 4, "ImageMergePush must match image_merge_infos.h");
static_assert(static_cast<int>(MergeMode::Over) == IMAGE_MERGE_OVER &&
              static_cast<int>(MergeMode::Screen) == IMAGE_MERGE_SCREEN);

static const KernelDesc kImageMerge{"image_merge", lattice_spv_image_merge,
                                    {BindingKind::Storage, BindingKind::Storage, BindingKind::Storage},
                                    sizeof(ImageMergePush)};

static void check_image(const Tensor& t, const char* which) {
  if (t.dtype() != DType::F32 || !t.contiguous() || t.rank() != 3 || t.dim(2) < 1 || t.dim(2) > 4)
    throw_unsupported(std::string("image merge: ") + which + " is " + t.describe() +
                      ", needs a contiguous f32 [H, W, 1..4] tensor");
  if (t.numel() > 0xFFFFFFFFll / 4) throw_unsupported(std::string("image merge: ") + which + " too large");
}

Tensor image_merge(CommandStream& stream, const Tensor& a, const Tensor& b, MergeMode mode, float mix) {
  check_image(a, "a");
  check_image(b, "b");
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, {a.dim(0), a.dim(1), 4}, DType::F32);
  if (out.numel() == 0) return out;
  ImageMergePush push{static_cast<uint32_t>(a.dim(1)), static_cast<uint32_t>(a.dim(0)),
                      static_cast<uint32_t>(a.dim(2)), static_cast<uint32_t>(a.offset()),
                      static_cast<uint32_t>(b.dim(1)), static_cast<uint32_t>(b.dim(0)),
                      static_cast<uint32_t>(b.dim(2)), static_cast<uint32_t>(b.offset()),
                      static_cast<uint32_t>(mode), mix};
  // An empty B still needs a buffer to bind; A's serves, as no invocation reads it through binding 1.
  const auto& b_buffer = b.numel() > 0 ? b.buffer() : a.buffer();
  if (b.numel() == 0) push.b_width = push.b_height = 0;
  Arg args[] = {{a.buffer()}, {b_buffer}, {out.buffer()}};
  auto g = grid_1d(static_cast<uint64_t>(push.width) * push.height, IMAGE_MERGE_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(kImageMerge), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

namespace {
/// Channel c of pixel (x, y) as RGBA: missing colour channels repeat the grey value, missing alpha is 1.
float rgba(const ImageView& img, int x, int y, int c) {
  const float* p = &img.pixels[(static_cast<size_t>(y) * img.width + x) * img.channels];
  if (c == 3) return img.channels == 4 ? p[3] : (img.channels == 2 ? p[1] : 1.0f);
  return img.channels >= 3 ? p[c] : p[0];
}
}  // namespace

void image_merge_cpu(const ImageView& a, const ImageView& b, MergeMode mode, float mix, std::span<float> out) {
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width; ++x) {
      const bool inside = x < b.width && y < b.height;
      const float ba = inside ? rgba(b, x, y, 3) : 0.0f;
      for (int c = 0; c < 4; ++c) {
        const float av = rgba(a, x, y, c);
        float r = av;
        if (inside) {
          const float bv = rgba(b, x, y, c);
          switch (mode) {
            case MergeMode::Over: r = c == 3 ? ba + av * (1 - ba) : bv * ba + av * (1 - ba); break;  // straight alpha
            case MergeMode::Add: r = c == 3 ? av : av + bv; break;
            case MergeMode::Multiply: r = c == 3 ? av : av * bv; break;
            case MergeMode::Screen: r = c == 3 ? av : 1 - (1 - av) * (1 - bv); break;
          }
        }
        out[(static_cast<size_t>(y) * a.width + x) * 4 + c] = av + (r - av) * mix;
      }
    }
}

}  // namespace lattice::gpu
