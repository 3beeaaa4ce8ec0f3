// The T5 relative-position bucket function against hand-computed buckets, the bias layout, and config
// detection from the fixture weights against the stored transformers configs.
#include "nodes/models/t5/encoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;
const fs::path kGolden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden";

TEST(T5Encoder, RelativePositionBucketsMatchHandComputedValues) {
  // 32 buckets, max distance 128: keys before the query use buckets 0..15, after it 16..31. |rel| < 8 is
  // exact; beyond, 8 + floor(8·log(|rel|/8)/log(16)), clamped to 15. Boundaries: 8·2^(k/2) for k = 1..7,
  // i.e. 11.3, 16, 22.6, 32, 45.3, 64, 90.5.
  const std::pair<int64_t, int> cases[] = {
      {0, 0},    {-1, 1},   {1, 17},   {-7, 7},    {7, 23},    {-8, 8},    {8, 24},    {11, 24},  {-12, 9},
      {-15, 9},  {-16, 10}, {16, 26},  {-22, 10},  {-23, 11},  {-31, 11},  {-32, 12},  {-45, 12}, {-46, 13},
      {-63, 13}, {-64, 14}, {64, 30},  {-90, 14},  {-91, 15},  {-127, 15}, {-128, 15}, {159, 31}, {-1000, 15}};
  for (const auto& [rel, bucket] : cases) EXPECT_EQ(t5_relative_position_bucket(rel, 32, 128), bucket) << "rel " << rel;
}

TEST(T5Encoder, PositionBiasIsIndexedByKeyMinusQueryPerHead) {
  // table[bucket, head] = 10·bucket + head, 2 heads, L = 3: bias[h, i, j] = table[bucket(j - i), h].
  std::vector<float> table(32 * 2);
  for (int b = 0; b < 32; ++b)
    for (int h = 0; h < 2; ++h) table[static_cast<size_t>(b * 2 + h)] = static_cast<float>(10 * b + h);
  const auto bias = t5_position_bias(table, 2, 3, 32, 128);
  ASSERT_EQ(bias.size(), 18u);
  const int expect_bucket[3][3] = {{0, 17, 18}, {1, 0, 17}, {2, 1, 0}};
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j)
        EXPECT_EQ(bias[static_cast<size_t>((h * 3 + i) * 3 + j)], static_cast<float>(10 * expect_bucket[i][j] + h))
            << h << " " << i << " " << j;
}

TEST(T5Encoder, DetectsTheStoredConfigsFromTheWeights) {
  for (const char* file : {"t5_encoder.safetensors", "umt5_encoder.safetensors"}) {
    const Fixture fx(kGolden / file);
    const T5Config stored = t5_config_from_json(fx.config());
    const T5Config got = detect_t5_config(fixture_weights(fx));
    EXPECT_EQ(got.vocab_size, stored.vocab_size) << file;
    EXPECT_EQ(got.d_model, stored.d_model) << file;
    EXPECT_EQ(got.d_kv, stored.d_kv) << file;
    EXPECT_EQ(got.d_ff, stored.d_ff) << file;
    EXPECT_EQ(got.num_layers, stored.num_layers) << file;
    EXPECT_EQ(got.num_heads, stored.num_heads) << file;
    EXPECT_EQ(got.relative_attention_num_buckets, stored.relative_attention_num_buckets) << file;
    EXPECT_EQ(got.per_layer_position_bias, stored.per_layer_position_bias) << file;
    EXPECT_EQ(got.per_layer_position_bias, fx.cls() == "UMT5EncoderModel") << file;
  }
}

TEST(T5Encoder, EncodesTokenizerBatchesWithTheirMasks) {
  // The node-facing overload: one TokenBatch per prompt, masks taken from the batches.
  const Fixture fx(kGolden / "umt5_encoder.safetensors");
  WeightSource src = fixture_weights(fx);
  GpuService gpu;
  DeviceWeights weights(src, gpu.context());
  T5Encoder model(detect_t5_config(src), weights);
  const auto ids = fx.f32("input.input_ids"), mask = fx.f32("input.attention_mask");
  const size_t L = static_cast<size_t>(fx.tensor("input.input_ids").shape[1]);
  std::vector<TokenBatch> prompts(ids.size() / L);
  for (size_t b = 0; b < prompts.size(); ++b)
    for (size_t i = 0; i < L; ++i) {
      prompts[b].ids.push_back(static_cast<int32_t>(ids[b * L + i]));
      prompts[b].attention_mask.push_back(static_cast<int32_t>(mask[b * L + i]));
    }
  gpu::CommandStream s(gpu.context());
  const gpu::Tensor out = model.encode(s, prompts, true);
  s.finish();
  const auto got = out.to_floats(), ref = fx.f32("output.last_hidden_state");
  ASSERT_EQ(got.size(), ref.size());
  float max_err = 0;
  for (size_t i = 0; i < ref.size(); ++i) max_err = std::max(max_err, std::fabs(got[i] - ref[i]));
  EXPECT_LE(max_err, 1e-4f * 4);  // max |ref| is 3.54

  prompts[1].ids.pop_back();
  gpu::CommandStream s2(gpu.context());
  EXPECT_THROW(model.encode(s2, prompts, true), Error);
}

TEST(T5Encoder, RefusesUngatedFeedForwards) {
  EXPECT_THROW(t5_config_from_json({{"feed_forward_proj", "relu"}}), Error);
}

}  // namespace
}  // namespace lattice
