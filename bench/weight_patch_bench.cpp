// Host cost of merging one FLUX-sized matrix [3072, 3072] with each adapter format, a row at a time as
// DeviceWeights does for 16-bit matrices (nodes/models/weight_patch.h): LoHa (ranks 16, 16), LoKr (w1 [8, 8] full,
// w2 [384, 384] = rank-16 product, LyCORIS' default split for factor 8) and a full difference, against a rank-16
// LoRA (the baseline, same run), and the rank-16 LoRA as DoRA with a per-row magnitude and with a per-input-channel
// one (whose norms take a pass over the whole matrix first, PatchRows::prepare). The ratios say what a format adds
// to the load-time merge of a patched matrix.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>

#include "nodes/models/weight_patch.h"

namespace lattice {
namespace {

constexpr int64_t kN = 3072;

HostTensor random(std::vector<int64_t> shape, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v(static_cast<size_t>(HostTensor{DType::F32, shape, {}}.numel()));
  for (float& x : v) x = 0.01f * nd(rng);
  return HostTensor::from_f32(std::move(shape), v);
}

void merge(benchmark::State& state, const WeightPatch& p) {
  std::vector<float> row(static_cast<size_t>(kN), 0.0f);
  for (auto _ : state) {
    PatchRows rows({&p}, kN);
    rows.prepare(kN, [&](int64_t, float* r) { std::copy_n(row.data(), kN, r); });
    for (int64_t o = 0; o < kN; ++o) rows.add(row.data(), o);
    benchmark::DoNotOptimize(row.data());
  }
}

void BM_Lora(benchmark::State& state) { merge(state, WeightPatch{"w", random({kN, 16}, 1), random({16, kN}, 2), 1.0f}); }
BENCHMARK(BM_Lora)->Name("lora_merge/lora_r16/3072x3072/host")->Unit(benchmark::kMillisecond);

void BM_Loha(benchmark::State& state) {
  merge(state, WeightPatch{"w", random({kN, 16}, 1), random({16, kN}, 2), 1.0f, WeightPatch::Kind::Hadamard,
                           random({kN, 16}, 3), random({16, kN}, 4)});
}
BENCHMARK(BM_Loha)->Name("lora_merge/loha_r16/3072x3072/host")->Unit(benchmark::kMillisecond);

void BM_Lokr(benchmark::State& state) {
  merge(state, WeightPatch{"w", random({8, 8}, 1), {}, 1.0f, WeightPatch::Kind::Kronecker, random({384, 16}, 3), random({16, 384}, 4)});
}
BENCHMARK(BM_Lokr)->Name("lora_merge/lokr_f8_r16/3072x3072/host")->Unit(benchmark::kMillisecond);

void BM_Diff(benchmark::State& state) { merge(state, WeightPatch{"w", random({kN, kN}, 1), {}, 1.0f}); }
BENCHMARK(BM_Diff)->Name("lora_merge/diff/3072x3072/host")->Unit(benchmark::kMillisecond);

WeightPatch dora(std::vector<int64_t> magnitude_shape) {
  WeightPatch p{"w", random({kN, 16}, 1), random({16, kN}, 2), 1.0f};
  p.magnitude = HostTensor::from_f32(magnitude_shape, std::vector<float>(static_cast<size_t>(kN), 1.0f));
  p.strength = 0.8f;
  return p;
}

void BM_DoraRow(benchmark::State& state) { merge(state, dora({kN, 1})); }
BENCHMARK(BM_DoraRow)->Name("lora_merge/dora_row_r16/3072x3072/host")->Unit(benchmark::kMillisecond);

void BM_DoraChannel(benchmark::State& state) { merge(state, dora({1, kN})); }
BENCHMARK(BM_DoraChannel)->Name("lora_merge/dora_channel_r16/3072x3072/host")->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace lattice
