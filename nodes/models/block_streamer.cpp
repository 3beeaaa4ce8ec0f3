#include "nodes/models/block_streamer.h"

#include <algorithm>

#include "core/error.h"

namespace lattice {

bool streamed_as_matrix(const std::string& name, const TensorInfo& info) {
  return info.shape.size() == 2 && name.ends_with(".weight");
}

std::vector<std::vector<std::string>> block_tensor_names(const WeightSource& w, const std::vector<std::string>& prefixes) {
  const std::vector<std::string> all = w.names();  // sorted
  std::vector<std::vector<std::string>> out;
  for (const auto& prefix : prefixes) {
    std::vector<std::string> names;
    for (auto it = std::lower_bound(all.begin(), all.end(), prefix); it != all.end() && it->starts_with(prefix); ++it)
      names.push_back(*it);
    if (names.empty()) throw_invalid(w.origin() + ": no tensors named '" + prefix + "*'");
    out.push_back(std::move(names));
  }
  return out;
}

std::vector<uint64_t> block_device_bytes(const WeightSource& w, const std::vector<std::string>& prefixes,
                                         std::optional<gpu::DType> matrix_dtype) {
  std::vector<uint64_t> out;
  for (const auto& names : block_tensor_names(w, prefixes)) {
    uint64_t bytes = 0;
    for (const auto& n : names) bytes += device_tensor_bytes(w.info(n), streamed_as_matrix(n, w.info(n)), matrix_dtype);
    out.push_back(bytes);
  }
  return out;
}

uint64_t weights_device_bytes(const WeightSource& w, std::optional<gpu::DType> matrix_dtype) {
  uint64_t bytes = 0;
  for (const auto& n : w.names()) bytes += device_tensor_bytes(w.info(n), streamed_as_matrix(n, w.info(n)), matrix_dtype);
  return bytes;
}

std::vector<uint64_t> block_device_bytes(const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes,
                                         const std::vector<std::string>& prefixes, DType stored,
                                         std::optional<gpu::DType> matrix_dtype) {
  std::vector<uint64_t> out;
  for (const auto& prefix : prefixes) {
    uint64_t bytes = 0;
    for (const auto& [name, shape] : shapes)
      if (name.starts_with(prefix)) {
        const TensorInfo info{name, stored, shape};
        bytes += device_tensor_bytes(info, streamed_as_matrix(name, info), matrix_dtype);
      }
    out.push_back(bytes);
  }
  return out;
}

uint64_t weights_device_bytes(const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes, DType stored,
                              std::optional<gpu::DType> matrix_dtype) {
  uint64_t bytes = 0;
  for (const auto& [name, shape] : shapes) {
    const TensorInfo info{name, stored, shape};
    bytes += device_tensor_bytes(info, streamed_as_matrix(name, info), matrix_dtype);
  }
  return bytes;
}

BlockStreamer::BlockStreamer(DeviceWeights& weights, std::vector<std::string> prefixes)
    : weights_(weights),
      prefixes_(std::move(prefixes)),
      names_(block_tensor_names(weights_.source(), prefixes_)),
      bytes_(block_device_bytes(weights_.source(), prefixes_, weights_.matrix_dtype())) {}

BlockStreamer::~BlockStreamer() {
  if (prefetch_.valid()) prefetch_.wait();
}

uint64_t BlockStreamer::device_bytes() const {
  uint64_t n = 0;
  if (planned_)
    for (int i = 0; i < size(); ++i)
      if (resident(i)) n += bytes_[static_cast<size_t>(i)];
  return n + slot_device_bytes();
}

uint64_t BlockStreamer::slot_device_bytes() const {
  uint64_t n = 0;
  for (const auto& s : slots_) n += s.weights->uploaded_bytes();
  return n;
}

void BlockStreamer::plan(uint64_t available, const std::string& need_message) {
  if (planned_ && plan_.device_bytes() <= available) return;
  const BlockStreamPlan next = plan_block_streaming(bytes_, available);
  if (!next.fits) {
    const uint64_t short_by = next.slot_bytes - std::min(next.slot_bytes, available);
    throw_eval(need_message + " one block's weights (" + std::to_string(next.slot_bytes) + " bytes, " +
               std::to_string(next.slot_bytes >> 20) + " MiB) do not fit the " + std::to_string(available) +
               " bytes the budget leaves; the budget is " + std::to_string(short_by) +
               " bytes short: raise --vram-budget (LATTICE_GPU_BUDGET_MB)");
  }
  // Blocks resident under the old plan but not the new one are released; slots start empty.
  if (planned_)
    for (int i = next.resident; i < size(); ++i)
      if (resident(i)) weights_.release(prefixes_[static_cast<size_t>(i)]);
  if (prefetch_.valid()) prefetch_.wait();
  prefetch_ = {};
  prefetch_block_ = -1;
  slots_.clear();
  plan_ = next;
  planned_ = true;
  stats_.plan = plan_;
  for (int i = 0; i < plan_.resident; ++i) upload_block(weights_, prepare_block(i));
  for (int k = 0; k < plan_.slots; ++k)
    slots_.push_back({std::make_unique<DeviceWeights>(weights_.source(), weights_.context(), weights_.patches(),
                                                     weights_.matrix_dtype()),
                      -1});
  next_slot_ = 0;
  if (plan_.slots > 0) start_prefetch(plan_.resident);
}

uint64_t BlockStreamer::plan_forward(uint64_t act, const std::string& model, uint64_t act2) {
  const gpu::Allocator& a = weights_.context().allocator();
  const uint64_t budget = a.budget_bytes();
  // Other models' weights on this device (every DeviceWeights there, less this model's and its slots').
  const uint64_t own = weights_.uploaded_bytes() + slot_device_bytes(), all = DeviceWeights::context_bytes(weights_.context());
  const uint64_t models = all > own ? all - own : 0;
  if (!planned_ || act > planned_one_ || act2 > planned_two_) {
    // The first forward, or larger activations: against everything in use now.
    others_ = a.current_device_bytes() - device_bytes();
    planned_one_ = std::max(act, planned_one_);
    planned_two_ = std::max(act2, planned_two_);
  } else if (models != models_) {
    // Models loaded (or released) since beside this one, into the same budget: the bytes they hold are what
    // the budget leaves changed by (the sampler's own tensors are accounted for by the activations).
    others_ = models > models_ ? others_ + (models - models_) : others_ - std::min(others_, models_ - models);
  } else {
    return stats_.activation_bytes;
  }
  models_ = models;
  act = planned_one_;
  act2 = planned_two_;
  const uint64_t available = budget > others_ + act ? budget - others_ - act : 0;
  auto mib = [](uint64_t b) { return std::to_string(b) + " bytes (" + std::to_string(b >> 20) + " MiB)"; };
  plan(available, model + ": the device budget of " + mib(budget) + " cannot run it: " + mib(others_) +
                      " are in use and a forward's activations need " + mib(act) + ";");
  // Streamed blocks always wait (their slots are reused); resident ones may overlap where the budget holds
  // a second block's temporaries too.
  const bool two = act2 > 0 && plan_.slots == 0 && budget >= others_ + device_bytes() + act2;
  stats_.blocks_in_flight = two ? 2 : 1;
  stats_.activation_bytes = two ? act2 : act;
  return stats_.activation_bytes;
}

bool BlockStreamer::fits(uint64_t act, uint64_t pending) const {
  if (planned_ && act <= planned_one_ && pending == 0) return true;  // plan_forward keeps the plan in force
  const gpu::Allocator& a = weights_.context().allocator();
  const uint64_t budget = a.budget_bytes(), others = a.current_device_bytes() - device_bytes() + pending;
  act = std::max(act, planned_one_);
  return budget > others + act && plan_block_streaming(bytes_, budget - others - act).fits;
}

int BlockStreamer::next_streamed(int after) const {
  const int n = size();
  for (int k = 1; k <= n; ++k) {
    const int j = (after + k) % n;
    if (!resident(j)) return j;
  }
  return -1;
}

BlockStreamer::Prepared BlockStreamer::prepare_block(int i) const {
  Prepared p;
  p.block = i;
  for (const auto& name : names_[static_cast<size_t>(i)]) {
    const bool matrix = streamed_as_matrix(name, weights_.source().info(name));
    HostWeight w = weights_.prepare(name, matrix);
    if (w.f32_storage.empty() && w.half_storage.empty() && w.byte_storage.empty()) {
      // Used as stored: fault the mapped pages in here rather than during the upload.
      volatile unsigned char sink = 0;
      for (size_t o = 0; o < w.bytes.size(); o += 4096) sink = sink + static_cast<unsigned char>(w.bytes[o]);
      (void)sink;
    }
    p.tensors.push_back({name, matrix, std::move(w)});
  }
  return p;
}

void BlockStreamer::start_prefetch(int i) {
  if (i < 0 || prefetch_block_ == i || slot_holding(i)) return;
  if (prefetch_.valid()) prefetch_.wait();
  prefetch_block_ = i;
  prefetch_ = std::async(std::launch::async, [this, i] { return prepare_block(i); });
}

BlockStreamer::Prepared BlockStreamer::take_prefetched(int i) {
  if (prefetch_.valid()) {
    Prepared p = prefetch_.get();  // rethrows what the host thread threw
    prefetch_block_ = -1;
    if (p.block == i) return p;
  }
  return prepare_block(i);
}

void BlockStreamer::upload_block(DeviceWeights& w, Prepared p) {
  const uint64_t limit = w.context().device().max_buffer_bytes();
  for (auto& [name, matrix, host] : p.tensors) {
    w.stage(name, matrix, std::move(host));
    const TensorInfo& info = w.source().info(name);
    if (!matrix)
      w.vector(name);
    else if (device_tensor_bytes(info, true, w.matrix_dtype()) > limit)
      w.matrix_rows(name, limit);  // as Linear::load splits it
    else
      w.matrix(name);
  }
}

void BlockStreamer::load_slot(Slot& slot, int i) {
  const auto t0 = std::chrono::steady_clock::now();
  Prepared p = take_prefetched(i);
  // Reuse the slot's buffers for tensors of the same shape and dtype; free the others first, so that the
  // slot never holds more than one block.
  std::vector<gpu::Tensor> old = slot.weights->take_tensors();
  slot.block = -1;
  std::vector<gpu::Tensor> spares;
  const uint64_t limit = weights_.context().device().max_buffer_bytes();
  for (const auto& [name, matrix, host] : p.tensors) {
    std::vector<gpu::Shape> shapes{host.shape};
    if (matrix && host.bytes.size() > limit) {
      // matrix_rows' blocks of whole rows
      const int64_t per = DeviceWeights::rows_per_block(host.shape, gpu::dtype_bytes(host.dtype), limit);
      shapes.clear();
      for (int64_t r = 0; r < host.shape[0]; r += per) shapes.push_back({std::min(per, host.shape[0] - r), host.shape[1]});
    }
    for (const auto& shape : shapes) {
      const gpu::DType dtype = matrix ? host.dtype : gpu::DType::F32;
      auto it = std::find_if(old.begin(), old.end(), [&](const gpu::Tensor& t) { return t.shape() == shape && t.dtype() == dtype; });
      if (it == old.end()) continue;
      spares.push_back(std::move(*it));
      old.erase(it);
    }
  }
  old.clear();
  slot.weights->give_spares(std::move(spares));
  const uint64_t before = slot.weights->uploaded_bytes();
  upload_block(*slot.weights, std::move(p));
  slot.weights->drop_spares();
  slot.block = i;
  stats_.streamed_bytes += slot.weights->uploaded_bytes() - before;
  ++stats_.uploads;
  stats_.upload_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

BlockStreamer::Slot* BlockStreamer::slot_holding(int i) {
  for (auto& s : slots_)
    if (s.block == i) return &s;
  return nullptr;
}

DeviceWeights& BlockStreamer::acquire(gpu::CommandStream& s, int i) {
  if (!planned_) throw_eval("block streamer: acquire() before plan()");
  // Values are of this stream's timeline, from this pass (a pass starts at block 0, on any stream).
  if (i == 0 || &s != waited_on_) submitted_.clear();
  waited_on_ = &s;
  if (stats_.blocks_in_flight > 1 && plan_.slots == 0) {
    // Everything resident: wait only until fewer than blocks_in_flight submissions are outstanding.
    while (submitted_.size() >= static_cast<size_t>(stats_.blocks_in_flight)) {
      s.wait(submitted_.front());
      submitted_.erase(submitted_.begin());
    }
  } else {
    s.finish();
    submitted_.clear();
  }
  if (i == 0 && last_acquired_ != 0) ++stats_.passes;
  last_acquired_ = i;
  if (resident(i)) return weights_;
  if (Slot* held = slot_holding(i)) return *held->weights;
  // Not uploaded ahead (the first pass, or a pass cut short): every slot is idle after finish().
  Slot& slot = slots_[static_cast<size_t>(next_slot_)];
  next_slot_ = (next_slot_ + 1) % static_cast<int>(slots_.size());
  load_slot(slot, i);
  start_prefetch(next_streamed(i));
  return *slot.weights;
}

void BlockStreamer::release(gpu::CommandStream& s, int i) {
  submitted_.push_back(s.submit());
  if (plan_.slots == 0) return;
  const int j = next_streamed(i);
  if (j < 0 || slot_holding(j)) return;
  // Block i runs now; a slot that does not hold it has been idle since acquire() finished the stream.
  for (size_t k = 0; k < slots_.size(); ++k) {
    Slot& slot = slots_[(static_cast<size_t>(next_slot_) + k) % slots_.size()];
    if (slot.block == i) continue;
    load_slot(slot, j);
    next_slot_ = static_cast<int>(((static_cast<size_t>(next_slot_) + k + 1) % slots_.size()));
    start_prefetch(next_streamed(j));
    return;
  }
}

}  // namespace lattice
