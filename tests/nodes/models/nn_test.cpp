// nn.h building blocks under a small device buffer limit (LATTICE_GPU_MAX_BUFFER_BYTES): a linear whose weight
// does not fit one buffer is split into row blocks, and map_token_chunks runs a row-wise function in chunks;
// both must give what the unsplit computation gives.
// Also: checkpoint dtypes on upload (bf16 kept as stored, fp8 converted), against the stored values.
#include "nodes/models/nn.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/safetensors.h"
#include "core/types/tensor.h"
#include "gpu/dtype.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/unary.h"
#include "nodes/gpu_service.h"
#include "tests/support/gpu_limits.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

HostTensor random(std::vector<int64_t> shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n01;
  int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = n01(rng) * 0.25f;
  return HostTensor::from_f32(std::move(shape), v);
}

// `values` rounded to bf16 or f16.
HostTensor half_tensor(DType dtype, std::vector<int64_t> shape, const std::vector<float>& values) {
  HostTensor t{dtype, std::move(shape), std::vector<uint8_t>(values.size() * 2)};
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t h = dtype == DType::BF16 ? float_to_bf16(values[i]) : float_to_half(values[i]);
    std::memcpy(t.data.data() + 2 * i, &h, 2);
  }
  return t;
}

class NnSplit : public ::testing::Test {
 protected:
  void SetUp() override {
    path = fs::temp_directory_path() / ("lattice_nn_split_" + std::to_string(::getpid()) + ".safetensors");
    const HostTensor up = random({64, 16}, 1), up_b = random({64}, 2), down = random({16, 64}, 3), x = random({1, 30, 16}, 4);
    write_safetensors(path, {{"up.weight", &up}, {"up.bias", &up_b}, {"down.weight", &down}, {"x", &x}});
    input = x;
  }
  void TearDown() override { fs::remove_all(path); }

  /// up (16 -> 64) then gelu then down (64 -> 16), on 30 rows, through map_token_chunks; returns values and f calls.
  std::pair<std::vector<float>, int> run(GpuService& g) {
    gpu::Context& ctx = g.context();
    const WeightSource src = WeightSource::open(path);
    DeviceWeights w(src, ctx);
    const Linear up = Linear::load(w, "up"), down = Linear::load(w, "down");
    int calls = 0;
    gpu::CommandStream s(ctx);
    const gpu::Tensor x = gpu::Tensor::from_floats(ctx, input.to_f32(), input.shape);
    const gpu::Tensor y = map_token_chunks(s, x, up.out_features(), [&](const gpu::Tensor& t, int64_t) {
      ++calls;
      return down(s, gpu::gelu_tanh(s, up(s, t)));
    });
    s.finish();
    parts_up = up.parts.size();
    return {y.to_floats(), calls};
  }

  fs::path path;
  HostTensor input;
  size_t parts_up = 0;
};

TEST_F(NnSplit, SplitWeightsAndRowChunksGiveTheUnsplitResult) {
  auto whole = test::gpu_with_buffer_limit(0);
  const auto [ref, calls_whole] = run(*whole);
  EXPECT_EQ(calls_whole, 1);
  EXPECT_EQ(parts_up, 0u);

  // 2 KiB per buffer: up.weight (4 KiB) becomes 2 row blocks, down.weight (4 KiB) 2 blocks of 8 rows - the
  // output rows are what is split; the 30x64 hidden layer (7.5 KiB) runs in chunks of 8 rows.
  auto small = test::gpu_with_buffer_limit(2048);
  EXPECT_EQ(small->context().device().max_buffer_bytes(), 2048u);
  const auto [got, calls] = run(*small);
  EXPECT_EQ(parts_up, 2u);
  EXPECT_EQ(calls, 4);
  ASSERT_EQ(got.size(), ref.size());
  float err = 0;
  for (size_t i = 0; i < ref.size(); ++i) err = std::max(err, std::fabs(got[i] - ref[i]));
  EXPECT_LE(err, 1e-6f);
}

TEST_F(NnSplit, AnOversizedTensorIsStillRefusedClearly) {
  auto small = test::gpu_with_buffer_limit(2048);
  try {
    gpu::Tensor::from_floats(small->context(), std::vector<float>(1024), {1024});
    FAIL() << "a 4 KiB buffer passed a 2 KiB limit";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the largest one"), std::string::npos) << e.what();
  }
}

// A bf16 checkpoint is used as stored (no f16 fallback on any device: the shader widens bf16 words to f32), so
// a weight beyond f16's range (7e4 > 65504) survives; an fp8 checkpoint is converted to f32 on upload. Both
// linears must match a host reference of the stored values within the project tolerance.
TEST(NnWeights, Bf16AndFp8CheckpointsMatchTheirStoredValues) {
  const fs::path path = fs::temp_directory_path() / ("lattice_nn_dtypes_" + std::to_string(::getpid()) + ".safetensors");
  const int64_t out = 24, in = 40, rows = 5;
  const HostTensor w = random({out, in}, 11), x = random({rows, in}, 12);
  std::vector<float> wv = w.to_f32();
  wv[3] = 7e4f;
  HostTensor bf16{DType::BF16, {out, in}, std::vector<uint8_t>(wv.size() * 2)};
  for (size_t i = 0; i < wv.size(); ++i) {
    const uint16_t h = float_to_bf16(wv[i]);
    std::memcpy(bf16.data.data() + 2 * i, &h, 2);
  }
  HostTensor fp8{DType::F8E4M3, {out, in}, std::vector<uint8_t>(wv.size())};
  for (size_t i = 0; i < wv.size(); ++i) fp8.data[i] = static_cast<uint8_t>(0x30 + i % 0x40);  // |v| in [0.5, 240]
  write_safetensors(path, {{"bf16.weight", &bf16}, {"fp8.weight", &fp8}});
  auto g = test::gpu_with_buffer_limit(0);
  gpu::Context& ctx = g->context();
  {
    const WeightSource src = WeightSource::open(path);
    DeviceWeights weights(src, ctx);
    const gpu::Tensor tx = gpu::Tensor::from_floats(ctx, x.to_f32(), x.shape);
    for (const char* name : {"bf16", "fp8"}) {
      const Linear l = Linear::load(weights, name);
      EXPECT_EQ(l.weight.dtype(), std::string(name) == "bf16" ? gpu::DType::BF16 : gpu::DType::F32) << name;
      gpu::CommandStream s(ctx);
      const gpu::Tensor y = l(s, tx);
      s.finish();
      const std::vector<float> got = y.to_floats();
      const std::vector<float> stored = src.load(std::string(name) + ".weight").to_f32(), xv = x.to_f32();
      ASSERT_EQ(got.size(), static_cast<size_t>(rows * out));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < out; ++o) {
          double ref = 0;
          for (int64_t i = 0; i < in; ++i) ref += static_cast<double>(xv[r * in + i]) * stored[o * in + i];
          ASSERT_TRUE(std::isfinite(got[r * out + o])) << name;
          EXPECT_NEAR(got[r * out + o], ref, 1e-4 * std::max(1.0, std::fabs(ref))) << name << " row " << r << " out " << o;
        }
    }
  }
  fs::remove_all(path);
}

// A matrix dtype (a loader's weight_dtype) converts matrices on upload: bf16 matrices, LoRA-patched or not,
// become fp8 e4m3fn holding exactly the fp8 rounding of their f32 value (merged first); an fp8 matrix is used
// as stored; vectors stay f32. The device bytes are what device_tensor_bytes() counts and what
// DeviceWeights::context_bytes() reports for the context while the weights live; a linear over the fp8
// matrix matches a host reference of its fp8 values.
TEST(NnWeights, AMatrixDtypeConvertsMatricesOnUpload) {
  const fs::path path = fs::temp_directory_path() / ("lattice_nn_matrix_dtype_" + std::to_string(::getpid()) + ".safetensors");
  const int64_t out = 16, in = 32, rows = 3;
  const std::vector<float> wv = random({out, in}, 31).to_f32();
  const HostTensor bf16 = half_tensor(DType::BF16, {out, in}, wv), bias = random({out}, 32), x = random({rows, in}, 33);
  HostTensor fp8{DType::F8E4M3, {out, in}, std::vector<uint8_t>(wv.size())};
  gpu::encode(gpu::DType::F8E4M3FN, wv, reinterpret_cast<std::byte*>(fp8.data.data()));
  write_safetensors(path, {{"bf16.weight", &bf16}, {"bf16.bias", &bias}, {"patched.weight", &bf16}, {"fp8.weight", &fp8}});
  auto patches = std::make_shared<WeightPatches>();
  patches->push_back({"patched.weight", random({out, 2}, 34), random({2, in}, 35), 0.5f});
  auto g = test::gpu_with_buffer_limit(0);
  gpu::Context& ctx = g->context();
  const uint64_t before = DeviceWeights::context_bytes(ctx);
  {
    const WeightSource src = WeightSource::open(path);
    DeviceWeights weights(src, ctx, patches, gpu::DType::F8E4M3FN);
    uint64_t counted = 0;
    for (const char* name : {"bf16", "patched", "fp8"}) {
      const std::string key = std::string(name) + ".weight";
      const gpu::MatmulWeights& t = weights.matrix(key);
      EXPECT_EQ(t.dtype(), gpu::DType::F8E4M3FN) << name;
      std::vector<float> expected = src.load(key).to_f32();
      if (std::string(name) == "patched") apply_patches(expected, out, in, {&patches->at(0)});
      std::vector<std::byte> enc(expected.size());
      gpu::encode(gpu::DType::F8E4M3FN, expected, enc.data());
      gpu::decode(gpu::DType::F8E4M3FN, enc.data(), expected);
      EXPECT_EQ(t.to_floats(), expected) << name;
      counted += device_tensor_bytes(src.info(key), true, gpu::DType::F8E4M3FN);
    }
    EXPECT_EQ(weights.vector("bf16.bias").dtype(), gpu::DType::F32);
    counted += device_tensor_bytes(src.info("bf16.bias"), false, gpu::DType::F8E4M3FN);
    EXPECT_EQ(counted, static_cast<uint64_t>(3 * out * in + 4 * out));
    EXPECT_EQ(weights.uploaded_bytes(), counted);
    EXPECT_EQ(DeviceWeights::context_bytes(ctx), before + counted);

    const Linear l = Linear::load(weights, "bf16");
    const gpu::Tensor tx = gpu::Tensor::from_floats(ctx, x.to_f32(), x.shape);
    gpu::CommandStream s(ctx);
    const gpu::Tensor y = l(s, tx);
    s.finish();
    const std::vector<float> got = y.to_floats(), w8 = weights.matrix("bf16.weight").to_floats(), xv = x.to_f32(),
                             bv = bias.to_f32();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double ref = bv[static_cast<size_t>(o)];
        for (int64_t i = 0; i < in; ++i) ref += static_cast<double>(xv[r * in + i]) * w8[o * in + i];
        EXPECT_NEAR(got[r * out + o], ref, 1e-4 * std::max(1.0, std::fabs(ref))) << "row " << r << " out " << o;
      }
  }
  EXPECT_EQ(DeviceWeights::context_bytes(ctx), before);
  fs::remove_all(path);
}

// Conversion to a matrix dtype runs a block of rows at a time (a few MiB of f32, so that the host never holds an
// f32 copy of the whole matrix): a matrix of several blocks and a partial last one, LoRA-patched, gives bit for bit
// the whole-tensor conversion encode(W + patches), and an unpatched one encode(W).
TEST(NnWeights, ConversionByRowBlocksEqualsTheWholeTensorConversion) {
  const fs::path path = fs::temp_directory_path() / ("lattice_nn_convert_blocks_" + std::to_string(::getpid()) + ".safetensors");
  const int64_t out = 2600, in = 1024, rank = 4;  // 1024 rows of f32 a block: 2 whole blocks and a partial one
  const std::vector<float> wv = random({out, in}, 41).to_f32();
  const HostTensor bf16 = half_tensor(DType::BF16, {out, in}, wv);
  write_safetensors(path, {{"plain.weight", &bf16}, {"patched.weight", &bf16}});
  auto patches = std::make_shared<WeightPatches>();
  patches->push_back({"patched.weight", random({out, rank}, 42), random({rank, in}, 43), 0.5f});
  auto g = test::gpu_with_buffer_limit(0);
  {
    const WeightSource src = WeightSource::open(path);
    DeviceWeights weights(src, g->context(), patches, gpu::DType::F16);
    for (const char* name : {"plain", "patched"}) {
      const std::string key = std::string(name) + ".weight";
      std::vector<float> expected = src.load_f32(key);
      if (std::string(name) == "patched") apply_patches(expected, out, in, {&patches->at(0)});
      std::vector<std::byte> enc(expected.size() * 2);
      gpu::encode(gpu::DType::F16, expected, enc.data());
      gpu::decode(gpu::DType::F16, enc.data(), expected);
      const gpu::MatmulWeights& t = weights.matrix(key);
      EXPECT_EQ(t.dtype(), gpu::DType::F16) << name;
      EXPECT_EQ(t.to_floats(), expected) << name;
    }
  }
  fs::remove_all(path);
}

// A LoRA-patched 16-bit matrix is merged a row at a time and rounded back to its stored dtype: the device holds
// exactly round16(W + scale·up·down), W decoded from the stored 16-bit values, with f32 arithmetic.
TEST(NnWeights, PatchedHalfMatricesAreMergedAndRoundedToTheirStoredDtype) {
  const fs::path path = fs::temp_directory_path() / ("lattice_nn_patch_" + std::to_string(::getpid()) + ".safetensors");
  const int64_t out = 12, in = 20, rank = 3;
  const std::vector<float> wv = random({out, in}, 21).to_f32();
  const HostTensor bf16 = half_tensor(DType::BF16, {out, in}, wv), f16 = half_tensor(DType::F16, {out, in}, wv);
  write_safetensors(path, {{"bf16.weight", &bf16}, {"f16.weight", &f16}});
  auto patches = std::make_shared<WeightPatches>();
  for (const char* name : {"bf16.weight", "f16.weight"})
    patches->push_back({name, random({out, rank}, 22), random({rank, in}, 23), 0.75f});
  auto g = test::gpu_with_buffer_limit(0);
  {
    const WeightSource src = WeightSource::open(path);
    DeviceWeights weights(src, g->context(), patches);
    const std::vector<float> up = patches->at(0).up.to_f32(), down = patches->at(0).down.to_f32();
    for (const char* name : {"bf16", "f16"}) {
      const bool is_bf16 = std::string(name) == "bf16";
      const gpu::MatmulWeights& t = weights.matrix(std::string(name) + ".weight");
      EXPECT_EQ(t.dtype(), is_bf16 ? gpu::DType::BF16 : gpu::DType::F16) << name;
      const std::vector<float> got = t.to_floats(), stored = src.load(std::string(name) + ".weight").to_f32();
      for (int64_t o = 0; o < out; ++o)
        for (int64_t i = 0; i < in; ++i) {
          float v = stored[o * in + i];
          for (int64_t k = 0; k < rank; ++k) v += 0.75f * up[o * rank + k] * down[k * in + i];
          const float want = is_bf16 ? bf16_to_float(float_to_bf16(v)) : half_to_float(float_to_half(v));
          EXPECT_NEAR(got[o * in + i], want, std::fabs(want) * 1e-2f) << name << " [" << o << "," << i << "]";
        }
    }
  }
  fs::remove_all(path);
}

// Where the device packs matrices for matmul (CPU devices), linears give bit for bit what the row-major
// layout gives (LATTICE_MATMUL_PACK=0): f32, f16 and bf16 weights of 300 rows (a partial last column block),
// with a bias and an epilogue activation, whole and split into row blocks (each packed on its own), through
// operator() and into() a column range. matrix() reads back the stored values in row-major order.
TEST(NnWeights, PackedLinearsGiveTheRowMajorResult) {
  const fs::path path = fs::temp_directory_path() / ("lattice_nn_packed_" + std::to_string(::getpid()) + ".safetensors");
  const int64_t out = 300, in = 48, rows = 7;
  const HostTensor w = random({out, in}, 31), b = random({out}, 32), x = random({rows, in}, 33);
  const std::vector<float> wv = w.to_f32();
  const HostTensor bf16 = half_tensor(DType::BF16, {out, in}, wv), f16 = half_tensor(DType::F16, {out, in}, wv);
  write_safetensors(path, {{"f32.weight", &w}, {"f32.bias", &b}, {"bf16.weight", &bf16}, {"bf16.bias", &b},
                           {"f16.weight", &f16}, {"f16.bias", &b}});
  // Each name's outputs: operator() then into() columns [3, 3 + out) of a wider tensor.
  auto run = [&](GpuService& g, bool pack, size_t& parts) {
    if (!pack) setenv("LATTICE_MATMUL_PACK", "0", 1);
    gpu::Context& ctx = g.context();
    const WeightSource src = WeightSource::open(path);
    DeviceWeights weights(src, ctx);
    std::vector<std::vector<float>> results;
    const gpu::Tensor tx = gpu::Tensor::from_floats(ctx, x.to_f32(), x.shape);
    for (const char* name : {"f32", "bf16", "f16"}) {
      const Linear l = Linear::load(weights, name);
      parts = l.parts.size();
      if (!l.parts.empty()) {
        for (const auto& p : l.parts) EXPECT_EQ(p.packed, pack) << name;
      } else {
        EXPECT_EQ(l.weight.packed, pack) << name;
        EXPECT_EQ(weights.matrix(std::string(name) + ".weight").to_floats(), src.load(std::string(name) + ".weight").to_f32()) << name;
      }
      gpu::CommandStream s(ctx);
      const gpu::Tensor y = l(s, tx, gpu::UnaryOp::Silu);
      const gpu::Tensor wide = gpu::Tensor::empty(ctx, {rows, out + 5}, gpu::DType::F32);
      l.into(s, tx, gpu::narrow(wide, -1, 3, out), gpu::UnaryOp::Silu);
      s.finish();
      results.push_back(y.to_floats());
      results.push_back(wide.to_floats());
    }
    unsetenv("LATTICE_MATMUL_PACK");
    return results;
  };
  auto whole = test::gpu_with_buffer_limit(0);
  if (!gpu::matmul_packs_weights(whole->context().device(), gpu::DType::BF16, out, in)) {
    fs::remove_all(path);
    GTEST_SKIP() << "this device keeps matrices row-major";
  }
  size_t parts = 0;
  const auto plain = run(*whole, false, parts), packed = run(*whole, true, parts);
  EXPECT_EQ(parts, 0u);
  for (size_t i = 0; i < plain.size(); ++i) {
    if (i % 2) {  // into(): only the written columns
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 3; c < 3 + out; ++c)
          ASSERT_EQ(packed[i][r * (out + 5) + c], plain[i][r * (out + 5) + c]) << i << " [" << r << "," << c << "]";
    } else {
      EXPECT_EQ(packed[i], plain[i]) << i;
    }
  }
  // Split: 16 KiB buffers hold 85 f32 rows (4 parts) or 170 16-bit rows (2 parts); into() must agree too.
  auto small = test::gpu_with_buffer_limit(16384);
  const auto split = run(*small, true, parts), split_plain = run(*small, false, parts);
  EXPECT_EQ(parts, 2u);
  for (size_t i = 0; i < plain.size(); i += 2) {
    EXPECT_EQ(split[i], split_plain[i]) << i;
    ASSERT_EQ(split[i].size(), plain[i].size());
    for (size_t j = 0; j < plain[i].size(); ++j) EXPECT_NEAR(split[i][j], plain[i][j], 1e-5f) << i << " " << j;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 3; c < 3 + out; ++c)
        ASSERT_EQ(split[i + 1][r * (out + 5) + c], split[i][r * out + c - 3]) << i << " [" << r << "," << c << "]";
  }
  fs::remove_all(path);
}

}  // namespace
}  // namespace lattice
