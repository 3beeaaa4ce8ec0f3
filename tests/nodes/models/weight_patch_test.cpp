// The row-wise merge of every patch kind (product, full difference, Hadamard, Kronecker) against the dense
// ΔW computed here by its definition in double, with row offsets that wrap, factors of more than two
// dimensions read as matrices, several patches on one tensor, and a patch of the wrong width refused; DoRA patches
// (per-row and per-channel norms, after other patches, with strength) against the decomposition computed in double.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "tests/support/dense_product.h"
#include "nodes/models/weight_patch.h"

namespace lattice {
namespace {

using Dense = std::vector<double>;
using test::dense_product;

struct Factor {
  HostTensor t;
  std::vector<float> v;
};

Factor random(std::vector<int64_t> shape, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  Factor f;
  f.v.resize(static_cast<size_t>(HostTensor{DType::F32, shape, {}}.numel()));
  for (float& x : f.v) x = nd(rng);
  f.t = HostTensor::from_f32(std::move(shape), f.v);
  return f;
}

// W [rows, cols] merged with `patches` against W + Σ scale·ΔW[(o + offset) mod R] for the dense ΔWs given.
void expect_merge(const std::vector<WeightPatch>& patches, const std::vector<Dense>& deltas, int64_t rows, int64_t cols) {
  std::mt19937 rng(3);
  const Factor w = random({rows, cols}, rng);
  std::vector<float> got = w.v;
  std::vector<const WeightPatch*> ptrs;
  for (const auto& p : patches) ptrs.push_back(&p);
  apply_patches(got, rows, cols, ptrs);
  double max_err = 0;
  for (int64_t o = 0; o < rows; ++o)
    for (int64_t i = 0; i < cols; ++i) {
      double want = w.v[size_t(o * cols + i)];
      for (size_t k = 0; k < patches.size(); ++k) {
        const int64_t R = static_cast<int64_t>(deltas[k].size()) / cols, s = (o + patches[k].row_offset) % R;
        want += patches[k].scale * deltas[k][size_t(s * cols + i)];
      }
      max_err = std::max(max_err, std::fabs(got[size_t(o * cols + i)] - want) / std::max(1.0, std::fabs(want)));
    }
  EXPECT_LE(max_err, 1e-5);
}

TEST(WeightPatch, EveryKindMergesAsItsDenseDefinition) {
  std::mt19937 rng(11);
  const int64_t rows = 12, cols = 20;
  // Product (LoRA) with a 4-D down factor read as [rank, 5·2·2]; a full difference over 24 rows, offset 18 (wraps).
  const Factor up = random({rows, 3}, rng), down = random({3, 5, 2, 2}, rng), diff = random({24, cols}, rng);
  // Hadamard (LoHa) with unequal ranks; Kronecker (LoKr) A = a·b [4, 5], B full [6, 4]: R = 24, offset 7.
  const Factor w1a = random({rows, 2}, rng), w1b = random({2, cols}, rng), w2a = random({rows, 4}, rng), w2b = random({4, cols}, rng);
  const Factor ka = random({4, 2}, rng), kb = random({2, 5}, rng), kc = random({6, 4}, rng);

  WeightPatch lora{"w", up.t, down.t, 0.5f};
  WeightPatch full{"w", diff.t, {}, -1.25f};
  full.row_offset = 18;
  WeightPatch loha{"w", w1a.t, w1b.t, 0.3f, WeightPatch::Kind::Hadamard, w2a.t, w2b.t};
  WeightPatch lokr{"w", ka.t, kb.t, 0.9f, WeightPatch::Kind::Kronecker, kc.t, {}};
  lokr.row_offset = 7;
  EXPECT_EQ(lokr.delta_rows(), 24);
  EXPECT_EQ(lokr.delta_cols(), cols);

  Dense kron(static_cast<size_t>(24 * cols));
  const Dense A = dense_product(ka.v, kb.v, 4, 2, 5);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 5; ++j)
      for (int64_t k = 0; k < 6; ++k)
        for (int64_t l = 0; l < 4; ++l) kron[size_t((i * 6 + k) * cols + j * 4 + l)] = A[size_t(i * 5 + j)] * kc.v[size_t(k * 4 + l)];
  const Dense m1 = dense_product(w1a.v, w1b.v, rows, 2, cols), m2 = dense_product(w2a.v, w2b.v, rows, 4, cols);
  Dense had(m1.size());
  for (size_t i = 0; i < m1.size(); ++i) had[i] = m1[i] * m2[i];
  const Dense lora_d = dense_product(up.v, down.v, rows, 3, cols), full_d(diff.v.begin(), diff.v.end());

  expect_merge({lora}, {lora_d}, rows, cols);
  expect_merge({full}, {full_d}, rows, cols);
  expect_merge({loha}, {had}, rows, cols);
  expect_merge({lokr}, {kron}, rows, cols);
  expect_merge({lora, full, loha, lokr}, {lora_d, full_d, had, kron}, rows, cols);
}

// DoRA after an additive patch on the same tensor: per-row magnitudes (1-D [R] and [R, 1]) need only the row being
// merged; per-channel ones ([1, 5, 1, 1]: 4 columns each) need PatchRows::prepare to read every row first.
TEST(WeightPatch, DoraDecomposesAfterThePatchesBeforeIt) {
  std::mt19937 rng(21);
  const int64_t rows = 12, cols = 20;
  const Factor w = random({rows, cols}, rng), up = random({rows, 3}, rng), down = random({3, cols}, rng);
  const Factor pre_up = random({rows, 2}, rng), pre_down = random({2, cols}, rng);
  const WeightPatch before{"w", pre_up.t, pre_down.t, 0.2f};
  const Dense pre = dense_product(pre_up.v, pre_down.v, rows, 2, cols), d = dense_product(up.v, down.v, rows, 3, cols);
  Dense w1(w.v.begin(), w.v.end());
  for (size_t i = 0; i < w1.size(); ++i) w1[i] += 0.2 * pre[i];
  Dense dw(d.size());
  for (size_t i = 0; i < d.size(); ++i) dw[i] = 0.5 * d[i];
  std::uniform_real_distribution<float> pos(0.5f, 2.0f);
  for (const auto& [shape, group] : {std::pair{std::vector<int64_t>{rows}, int64_t{0}}, std::pair{std::vector<int64_t>{rows, 1}, int64_t{0}},
                                     std::pair{std::vector<int64_t>{1, 5, 1, 1}, int64_t{4}}}) {
    for (const float strength : {1.0f, 0.6f, -0.5f}) {
      SCOPED_TRACE((HostTensor{DType::F32, shape, {}}.shape_string() + " strength " + std::to_string(strength)));
      std::vector<float> m(static_cast<size_t>(HostTensor{DType::F32, shape, {}}.numel()));
      for (float& x : m) x = pos(rng);
      WeightPatch dora{"w", up.t, down.t, 0.5f};
      dora.magnitude = HostTensor::from_f32(shape, m);
      dora.strength = strength;
      EXPECT_EQ(dora.magnitude_per_row(), group == 0);
      const Dense want = test::dora_merge(w1, dw, m, rows, cols, group, strength);
      std::vector<float> got = w.v;
      apply_patches(got, rows, cols, {&before, &dora});
      double max_err = 0, change = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        max_err = std::max(max_err, std::fabs(got[i] - want[i]) / std::max(1.0, std::fabs(want[i])));
        change = std::max(change, std::fabs(want[i] - w1[i]));
      }
      EXPECT_LE(max_err, 1e-5);
      EXPECT_GT(change, 0.1);
    }
  }
  // A magnitude of neither shape is refused; a per-channel one merged without prepare() is an error, not a guess.
  WeightPatch bad{"layer.weight", up.t, down.t, 1.0f};
  bad.magnitude = HostTensor::from_f32({3, 4}, std::vector<float>(12, 1.0f));
  EXPECT_THROW(PatchRows({&bad}, cols), Error);
  bad.magnitude = HostTensor::from_f32({1, 20}, std::vector<float>(20, 1.0f));
  PatchRows unprepared({&bad}, cols);
  std::vector<float> row(static_cast<size_t>(cols), 1.0f);
  EXPECT_THROW(unprepared.add(row.data(), 0), Error);
}

TEST(WeightPatch, VectorsAreOneColumnMatricesAndWidthsAreChecked) {
  EXPECT_EQ(matrix_view({7}), (std::pair<int64_t, int64_t>{7, 1}));
  EXPECT_EQ(matrix_view({}), (std::pair<int64_t, int64_t>{1, 1}));
  EXPECT_EQ(matrix_view({32, 16, 1, 2, 2}), (std::pair<int64_t, int64_t>{32, 64}));
  std::mt19937 rng(5);
  const Factor bias = random({7}, rng);
  expect_merge({WeightPatch{"b", bias.t, {}, 2.0f}}, {Dense(bias.v.begin(), bias.v.end())}, 7, 1);

  const Factor up = random({4, 2}, rng), down = random({2, 6}, rng);
  const WeightPatch p{"layer.weight", up.t, down.t, 1.0f};
  std::vector<float> w(4 * 5, 0.0f);
  try {
    apply_patches(w, 4, 5, {&p});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'layer.weight' has 6 columns, the tensor 5"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lattice
