// Host time and peak host memory of turning a LoRA file into weight patches (nodes/models/lora.cpp) where its
// modules fuse several model matrices: a FLUX double block's img and txt qkv LoRAs (rank 64, each split over three
// [3072, 3072] matrices) and a single block's linear1 full difference (`.diff`, bf16 [21504, 3072], split over
// to_q/to_k/to_v/proj_mlp): 10 targets from 3 modules, 129 MiB of LoRA. The baseline (same run) reads the same
// tensors from the file into host tensors, which making patches cannot avoid. Counters: peak_MB, the VmHWM growth
// over the process RSS at the iteration's start less the pages of the file mapping touched (page cache; the
// patches are alive at the end, so at least the LoRA's bytes); lora_MB, the file's tensor bytes (MiB).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "core/types/tensor.h"
#include "nodes/models/lora.h"
#include "nodes/models/weights.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kC = 3072;

HostTensor zeros(std::vector<int64_t> shape) {
  HostTensor t{DType::BF16, std::move(shape), {}};
  t.data.resize(static_cast<size_t>(t.numel()) * 2);
  return t;
}

HostTensor filled(std::vector<int64_t> shape, float v) {
  HostTensor t = zeros(std::move(shape));
  const uint16_t b = float_to_bf16(v);
  for (size_t i = 0; i < t.data.size(); i += 2) std::memcpy(t.data.data() + i, &b, 2);
  return t;
}

// The model and LoRA files, written once per process (removed at exit).
struct Files {
  fs::path model, lora;
  Files() {
    const std::string id = std::to_string(::getpid());
    model = fs::temp_directory_path() / ("lattice_lora_bench_model_" + id + ".safetensors");
    lora = fs::temp_directory_path() / ("lattice_lora_bench_lora_" + id + ".safetensors");
    std::map<std::string, HostTensor> m;
    m.emplace("x_embedder.weight", zeros({kC, 64}));
    m.emplace("proj_out.weight", zeros({64, kC}));
    for (const char* n : {"to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj"})
      m.emplace(std::string("transformer_blocks.0.attn.") + n + ".weight", zeros({kC, kC}));
    for (const char* n : {"attn.to_q", "attn.to_k", "attn.to_v"})
      m.emplace(std::string("single_transformer_blocks.0.") + n + ".weight", zeros({kC, kC}));
    m.emplace("single_transformer_blocks.0.proj_mlp.weight", zeros({4 * kC, kC}));
    write(model, m);
    std::map<std::string, HostTensor> l;
    for (const char* qkv : {"img_attn.qkv", "txt_attn.qkv"}) {
      l.emplace(std::string("double_blocks.0.") + qkv + ".lora_A.weight", filled({64, kC}, 0.01f));
      l.emplace(std::string("double_blocks.0.") + qkv + ".lora_B.weight", filled({3 * kC, 64}, 0.02f));
    }
    l.emplace("single_blocks.0.linear1.diff", filled({7 * kC, kC}, 0.001f));
    write(lora, l);
  }
  ~Files() {
    fs::remove(model);
    fs::remove(lora);
  }
  static void write(const fs::path& p, const std::map<std::string, HostTensor>& tensors) {
    std::vector<std::pair<std::string, const HostTensor*>> list;
    for (const auto& [k, t] : tensors) list.emplace_back(k, &t);
    write_safetensors(p, list);
  }
};

const Files& files() {
  static const Files f;
  return f;
}

uint64_t status_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::strtoull(line.c_str() + key.size(), nullptr, 10) << 10;
  return 0;
}

// Runs `f` per iteration with the peak-RSS counter reset first; reports the largest VmHWM growth.
template <class F>
void measure(benchmark::State& state, F f) {
  const Files& fl = files();
  const WeightSource lora = WeightSource::open(fl.lora);
  uint64_t peak = 0;
  for (auto _ : state) {
    std::ofstream("/proc/self/clear_refs") << "5";  // VmHWM := VmRSS
    const uint64_t start = status_bytes("VmRSS"), file = status_bytes("RssFile");
    f(lora);
    peak = std::max(peak, status_bytes("VmHWM") - start - (status_bytes("RssFile") - file));
  }
  state.counters["peak_MB"] = static_cast<double>(peak) / (1 << 20);
  state.counters["lora_MB"] = static_cast<double>(lora.total_bytes()) / (1 << 20);
}

void BM_ReadTensors(benchmark::State& state) {
  measure(state, [](const WeightSource& lora) {
    std::vector<HostTensor> all;
    for (const std::string& n : lora.names()) all.push_back(lora.load(n));
    benchmark::DoNotOptimize(all.data());
  });
}
BENCHMARK(BM_ReadTensors)->Name("lora_patches/flux_fused_3_modules_10_targets/read_tensors_baseline")->Unit(benchmark::kMillisecond);

void BM_ApplyFluxLora(benchmark::State& state) {
  const auto model = std::make_shared<WeightSource>(WeightSource::open(files().model));
  measure(state, [&](const WeightSource& lora) {
    const FluxLoraResult r = apply_flux_lora(lora, model, nullptr, 0.8f);
    if (r.patches.size() != 10) state.SkipWithError("expected 10 patches");
    benchmark::DoNotOptimize(r.patches.data());
  });
}
BENCHMARK(BM_ApplyFluxLora)->Name("lora_patches/flux_fused_3_modules_10_targets/apply_flux_lora")->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace lattice
