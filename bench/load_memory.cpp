// lattice-load-memory: peak host memory while a checkpoint is loaded onto the device (issue #4: loading must
// not hold a second full copy of the model in host memory).
//
//   lattice-load-memory [--blocks N] [--f8] [--weight-dtype f32|f16|bf16|fp8_e4m3fn] [--file PATH] [--keep]
//
// --weight-dtype: the matrices' device dtype (a DiT loader's weight_dtype), converted on the host on upload.
// --file: a checkpoint of this layout to reuse if it exists (else written there); --keep: do not delete it.
//
// Writes a FLUX-shaped bf16 checkpoint (N double blocks at the real width 3072: the attention, feed-forward and
// adaLN matrices under their diffusers names; 2 blocks = 1.36 GB, the largest tensor the 18432x3072 adaLN
// matrix of 113 MB) tensor by tensor, so that writing it never holds more than one tensor, and evicts it from
// the page cache. --f8 stores float8 e4m3 instead, which the device cannot read: each tensor is converted to
// f32 on the host on its way up (the path that makes one host copy per tensor). Then, with the peak-RSS counter reset, opens it with WeightSource and uploads every matrix
// through DeviceWeights::matrix (as the models do). Prints, from /proc/self/status and the allocator:
//   - model bytes and the largest tensor;
//   - device bytes (allocator peak; on lavapipe device memory is host memory, so it shows up in the RSS too);
//   - RssFile growth while loading: pages of the mapping, i.e. page cache, shared with the kernel and reclaimable;
//   - peak memory beyond the device allocations and the mapping: VmHWM - RSS before - RssFile growth - device
//     peak over the whole load, and per tensor (VmHWM reset before each): VmHWM - RSS at its start - its device
//     bytes - its mapping pages. Both miss a transient that is freed before its tensor's device buffer is
//     allocated only by that buffer's size; the loader keeps its host buffer alive through the upload, so
//     the per-tensor figure is its host copy.
// The budget is whatever LATTICE_GPU_BUDGET_MB says (unset: 80% of the device heap).
#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/types/tensor.h"
#include "gpu/allocator.h"
#include "gpu/context.h"
#include "gpu/device.h"
#include "nodes/models/nn.h"
#include "nodes/models/weights.h"

namespace lattice {
namespace {

struct Matrix {
  std::string name;
  int64_t rows, cols;
};

// The matrices of FLUX double blocks (diffusers FluxTransformerBlock), width 3072, FFN 4x, adaLN 6x.
std::vector<Matrix> flux_matrices(int blocks) {
  constexpr int64_t C = 3072;
  std::vector<Matrix> m;
  for (int b = 0; b < blocks; ++b) {
    const std::string p = "transformer_blocks." + std::to_string(b) + ".";
    for (const char* n : {"attn.to_q", "attn.to_k", "attn.to_v", "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj",
                          "attn.to_out.0", "attn.to_add_out"})
      m.push_back({p + n + ".weight", C, C});
    for (const char* ff : {"ff", "ff_context"}) {
      m.push_back({p + ff + ".net.0.proj.weight", 4 * C, C});
      m.push_back({p + ff + ".net.2.weight", C, 4 * C});
    }
    m.push_back({p + "norm1.linear.weight", 6 * C, C});
    m.push_back({p + "norm1_context.linear.weight", 6 * C, C});
  }
  return m;
}

// Streams the safetensors layout (u64 header size, JSON header, data) one tensor at a time.
void write_checkpoint(const std::filesystem::path& path, const std::vector<Matrix>& matrices, bool f8) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const Matrix& m : matrices) {
    const uint64_t bytes = static_cast<uint64_t>(m.rows * m.cols) * (f8 ? 1 : 2);
    header[m.name] = {{"dtype", f8 ? "F8_E4M3" : "BF16"}, {"shape", {m.rows, m.cols}}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = h.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (const Matrix& m : matrices) {
    const size_t n = static_cast<size_t>(m.rows * m.cols);
    const float scale = 1.f / std::sqrt(static_cast<float>(m.cols));
    // A few thousand random values repeated: the content does not matter here, writing speed does.
    std::vector<uint16_t> pattern(4099);
    for (uint16_t& v : pattern) v = float_to_bf16(scale * normal(rng));
    if (f8) {
      // E4M3 bytes of small magnitude (exponent field 1..6; 0x7f/0xff would be NaN).
      std::vector<uint8_t> data(n);
      for (size_t i = 0; i < n; ++i) data[i] = static_cast<uint8_t>((pattern[i % pattern.size()] & 0x87) | 0x08);
      out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(n));
    } else {
      std::vector<uint16_t> data(n);
      for (size_t i = 0; i < n; ++i) data[i] = pattern[i % pattern.size()];
      out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(n * 2));
    }
  }
  out.close();
  if (!out) throw_invalid("cannot write " + path.string());
}

// Drops the file's pages from the page cache so that loading reads it as a cold checkpoint would be.
void evict(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// kB fields of /proc/self/status, in bytes.
std::map<std::string, uint64_t> status() {
  std::map<std::string, uint64_t> r;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos || line.find("kB") == std::string::npos) continue;
    r[line.substr(0, colon)] = std::strtoull(line.c_str() + colon + 1, nullptr, 10) << 10;
  }
  return r;
}

void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM to the current RSS
}

std::optional<gpu::DType> parse_dtype(const std::string& s) {
  if (s == "f32") return gpu::DType::F32;
  if (s == "f16") return gpu::DType::F16;
  if (s == "bf16") return gpu::DType::BF16;
  if (s == "fp8_e4m3fn") return gpu::DType::F8E4M3FN;
  throw Error(ErrorKind::Usage, "--weight-dtype: '" + s + "' is none of f32, f16, bf16, fp8_e4m3fn");
}

double mb(uint64_t b) { return static_cast<double>(b) / (1 << 20); }

int run(int argc, char** argv) {
  int blocks = 2;
  bool keep = false, f8 = false, given = false;
  std::optional<gpu::DType> matrix_dtype;
  std::filesystem::path path = std::filesystem::temp_directory_path() / "lattice_load_memory.safetensors";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--blocks" && i + 1 < argc) blocks = std::atoi(argv[++i]);
    else if (a == "--file" && i + 1 < argc) path = argv[++i], given = true;
    else if (a == "--keep") keep = true;
    else if (a == "--f8") f8 = true;
    else if (a == "--weight-dtype" && i + 1 < argc) matrix_dtype = parse_dtype(argv[++i]);
    else throw Error(ErrorKind::Usage, "usage: lattice-load-memory [--blocks N] [--f8] [--weight-dtype f32|f16|bf16|fp8_e4m3fn] "
                                       "[--file PATH] [--keep]; unknown argument '" + a + "'");
  }
  if (blocks < 1) throw Error(ErrorKind::Usage, "--blocks must be at least 1");
  const std::vector<Matrix> matrices = flux_matrices(blocks);
  if (!given || !std::filesystem::exists(path)) write_checkpoint(path, matrices, f8);
  evict(path);

  gpu::Context ctx;
  auto anon = [](const std::map<std::string, uint64_t>& s) { return s.at("RssAnon") + s.at("RssShmem"); };
  const auto before = status();
  reset_peak_rss();
  uint64_t model_bytes = 0, largest = 0, tensor_excess = 0, hwm = 0;
  {
    WeightSource source = WeightSource::open(path);
    DeviceWeights weights(source, ctx, {}, matrix_dtype);
    for (const std::string& name : source.names()) {
      const auto start = status();
      const uint64_t device_start = ctx.allocator().current_device_bytes();
      reset_peak_rss();
      // As Linear::load: a matrix larger than one device buffer goes up as blocks of rows.
      const TensorInfo& info = source.info(name);
      const uint64_t device_bytes = device_tensor_bytes(info, true, matrix_dtype);
      if (device_bytes > ctx.device().max_buffer_bytes())
        weights.matrix_rows(name, ctx.device().max_buffer_bytes());
      else
        weights.matrix(name);
      model_bytes += device_bytes;
      largest = std::max(largest, device_bytes);
      // This tensor's peak beyond its own device bytes and the pages of the mapping it touched.
      const auto end = status();
      const uint64_t added = ctx.allocator().current_device_bytes() - device_start;
      const uint64_t file = end.at("RssFile") - start.at("RssFile");
      const uint64_t floor = start.at("VmRSS") + added + file;
      if (end.at("VmHWM") > floor) tensor_excess = std::max(tensor_excess, end.at("VmHWM") - floor);
      hwm = std::max(hwm, end.at("VmHWM"));
    }
    const auto after = status();
    const uint64_t device_peak = ctx.peak_device_bytes();
    const uint64_t rss_before = before.at("VmRSS");
    const uint64_t file = after.at("RssFile") - before.at("RssFile");  // pages of the checkpoint mapping
    const uint64_t beyond = hwm > rss_before + file + device_peak ? hwm - rss_before - file - device_peak : 0;
    const char* budget = std::getenv("LATTICE_GPU_BUDGET_MB");
    std::printf("checkpoint            %s (%d FLUX double blocks, %s, width 3072)\n", path.c_str(),
                source.count_blocks("transformer_blocks."),
                source.info(source.names().front()).dtype == DType::BF16 ? "bf16" : "f8_e4m3 -> f32");
    std::printf("matrix dtype          %s\n", matrix_dtype ? gpu::dtype_name(*matrix_dtype) : "as stored (f8: f32)");
    std::printf("LATTICE_GPU_BUDGET_MB %s (budget %.0f MB)\n", budget ? budget : "unset", mb(ctx.memory_budget()));
    std::printf("model bytes on device %10.1f MB\n", mb(model_bytes));
    std::printf("largest tensor (dev.) %10.1f MB\n", mb(largest));
    std::printf("device peak           %10.1f MB\n", mb(device_peak));
    std::printf("RSS before / VmHWM    %10.1f / %.1f MB\n", mb(rss_before), mb(hwm));
    std::printf("RssAnon+Shmem after   %10.1f MB (before %.1f)\n", mb(anon(after)), mb(anon(before)));
    std::printf("RssFile growth        %10.1f MB (mapping pages: page cache)\n", mb(file));
    std::printf("peak beyond device    %10.1f MB = %.2fx largest tensor (VmHWM - RSS before - RssFile growth - device)\n",
                mb(beyond), static_cast<double>(beyond) / static_cast<double>(largest));
    std::printf("per-tensor excess     %10.1f MB = %.2fx largest tensor (max over tensors of its VmHWM - RSS at its\n"
                "                                      start - its device bytes - its mapping pages)\n",
                mb(tensor_excess), static_cast<double>(tensor_excess) / static_cast<double>(largest));
  }
  if (!keep) std::filesystem::remove(path);
  return 0;
}

}  // namespace
}  // namespace lattice

int main(int argc, char** argv) {
  try {
    return lattice::run(argc, argv);
  } catch (const lattice::Error& e) {
    std::fprintf(stderr, "lattice-load-memory: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lattice-load-memory: %s\n", e.what());
    return 4;
  }
}
