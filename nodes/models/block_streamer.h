#pragma once
/// BlockStreamer: a transformer's repeated blocks with their weights either resident on the device or
/// streamed through a bounded set of reusable slots, so that a model whose weights exceed the device budget
/// still runs, under that budget. Shared by the DiTs (FLUX, Wan 2.1, LTX-Video; the mechanism knows only
/// tensor-name prefixes).
///
/// Contract.
/// - Block i is every checkpoint tensor whose name starts with prefixes[i] (e.g. "transformer_blocks.3.").
///   Linear weights (rank 2, named "*.weight": streamed_as_matrix) are uploaded as matrices (stored dtype
///   kept, split into row blocks where larger than a device buffer, as Linear::load does; packed for matmul
///   where the device packs, on the host thread below), everything else
///   (biases, norm scales, modulation tables such as LTX's [6, C] scale_shift_table) as f32 through
///   DeviceWeights::vector/f32; a model loads its block structs from the
///   DeviceWeights that acquire() returns, as it would from its own, and finds them already uploaded. LoRA
///   patches of the model's DeviceWeights apply to streamed blocks as to resident ones.
/// - plan() decides from the bytes it may use which leading blocks stay resident (uploaded into the model's
///   DeviceWeights) and how many slots (2 when they fit: one runs while the next uploads; else 1) the others
///   share (core/block_stream_plan.h, the arithmetic --dry-run uses too).
/// - A pass calls acquire(s, i) before recording block i and release(s, i) after, in block order (a pass
///   may be cut short and start again at 0). acquire() finishes what `s` has recorded, so at most one
///   block's temporaries are alive at a time (a stream frees a submission's buffers only once it waited for
///   it) — unless plan_forward() allowed two blocks in flight (every block resident, and the budget holds a
///   second block's temporaries beside them): then acquire() submits
///   and waits only for the block before the previous one, so the device runs block i - 1 while block i is
///   recorded, and two blocks' temporaries are alive; release() submits block i and, while the device runs it,
///   uploads the next streamed block into the idle slot (reusing its buffers where shapes match), and a host
///   thread starts reading the one after from the memory-mapped checkpoint (converting and merging LoRA
///   patches on that thread). Uploads go through gpu::Staging on the calling thread.
/// - Not thread-safe: one caller thread; the internal host thread only reads the WeightSource and patches.
///   Work submitted on other streams that uses the blocks must be complete before a pass.

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/block_stream_plan.h"
#include "nodes/models/nn.h"

namespace lattice {

/// Whether a block tensor is uploaded as a matrix (a linear weight: rank 2, named "*.weight") or as f32.
bool streamed_as_matrix(const std::string& name, const TensorInfo& info);

/// Checkpoint names of each block (those starting with its prefix; Error(InvalidInput) for a prefix with
/// none) and the device bytes each block takes once uploaded as BlockStreamer uploads it.
std::vector<std::vector<std::string>> block_tensor_names(const WeightSource& w, const std::vector<std::string>& prefixes);
/// `matrix_dtype`: the DeviceWeights' (linear weights converted to it; none: as stored).
std::vector<uint64_t> block_device_bytes(const WeightSource& w, const std::vector<std::string>& prefixes,
                                         std::optional<gpu::DType> matrix_dtype = {});
/// The device bytes of every tensor of `w` uploaded as the models upload them (linear weights in their
/// stored dtype or `matrix_dtype`, everything else f32): a memory plan's weight bytes for a model that loads
/// all its tensors.
uint64_t weights_device_bytes(const WeightSource& w, std::optional<gpu::DType> matrix_dtype = {});
/// The same from tensor names and shapes alone, every tensor stored as `stored` (plans of a checkpoint
/// known only by its config, e.g. from a model's *_checkpoint_shapes()).
std::vector<uint64_t> block_device_bytes(const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes,
                                         const std::vector<std::string>& prefixes, DType stored,
                                         std::optional<gpu::DType> matrix_dtype = {});
/// weights_device_bytes() from names and shapes alone.
uint64_t weights_device_bytes(const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes, DType stored,
                              std::optional<gpu::DType> matrix_dtype = {});

/// Counters for reports: the plan in force and what was uploaded.
struct BlockStreamStats {
  BlockStreamPlan plan;
  int blocks_in_flight = 1;     ///< 1, or 2 where plan_forward() let a block run while the next is recorded
  uint64_t activation_bytes = 0;  ///< the activations plan_forward() reserved (for blocks_in_flight blocks)
  uint64_t streamed_bytes = 0;  ///< bytes uploaded into slots so far
  int uploads = 0;              ///< blocks uploaded into slots so far
  double upload_seconds = 0;   ///< host time spent uploading into slots (overlapping the device where it can)
  int passes = 0;               ///< passes through the blocks (each started at block 0)
};

class BlockStreamer {
 public:
  /// `weights` is the model's DeviceWeights: resident blocks are uploaded into it; slots share its source
  /// and patches.
  BlockStreamer(DeviceWeights& weights, std::vector<std::string> prefixes);
  ~BlockStreamer();
  BlockStreamer(const BlockStreamer&) = delete;
  BlockStreamer& operator=(const BlockStreamer&) = delete;

  int size() const { return static_cast<int>(prefixes_.size()); }
  /// Device bytes of each block's weights.
  const std::vector<uint64_t>& block_bytes() const { return bytes_; }
  /// Device bytes this streamer holds now (resident blocks and slots).
  uint64_t device_bytes() const;
  /// Device bytes its slots hold now (outside the model's DeviceWeights; model handles add them to their
  /// cache size).
  uint64_t slot_device_bytes() const;

  /// Plans for `available` bytes of block weights and uploads the resident blocks; a later call that leaves
  /// fewer bytes makes fewer blocks resident (never more). Throws Error(Evaluation) with `need_message`
  /// followed by the bytes one streamed block needs when not even one slot fits.
  void plan(uint64_t available, const std::string& need_message);
  bool planned() const { return planned_; }
  /// plan() for a forward whose activations need `activation_bytes` with one block's temporaries alive and
  /// `two_block_activation_bytes` with two (0: the model never lets two blocks run unwaited): the blocks get
  /// what the device budget leaves beside the bytes in use (less this streamer's own) and the one-block
  /// activations. Where every block is then resident and the budget also holds the two-block activations,
  /// two blocks may be in flight (see the contract); stats() says which and what was reserved. Plans at the
  /// first call against everything in use, again for larger activations, and again at a later forward where
  /// other models' weights on the device (DeviceWeights::context_bytes) grew or shrank since: loaded into the
  /// same budget, they make fewer blocks resident (never more) and two blocks in flight only where they still
  /// fit. The error names `model` ("Wan transformer"), the budget, what is in use and the activations.
  /// Returns the activation bytes reserved.
  uint64_t plan_forward(uint64_t activation_bytes, const std::string& model, uint64_t two_block_activation_bytes = 0);
  /// Whether plan_forward(activation_bytes) would find room for at least one block (rather than throw), with
  /// `pending_bytes` more allocated beside what is in use now before it runs: the same arithmetic, nothing
  /// planned or uploaded. Lets a caller choose a lower-memory way to run before its first forward.
  bool fits(uint64_t activation_bytes, uint64_t pending_bytes = 0) const;

  /// The weights holding block i, uploaded; finishes the work recorded on `s` first (see the contract).
  DeviceWeights& acquire(gpu::CommandStream& s, int i);
  /// Block i is recorded: submits it and prepares the next streamed block while it runs.
  void release(gpu::CommandStream& s, int i);

  const BlockStreamStats& stats() const { return stats_; }

 private:
  struct Prepared {
    int block = -1;
    struct Tensor {
      std::string name;
      bool matrix;  // streamed_as_matrix
      HostWeight host;
    };
    std::vector<Tensor> tensors;
  };
  struct Slot {
    std::unique_ptr<DeviceWeights> weights;
    int block = -1;
  };
  bool resident(int i) const { return i < plan_.resident || plan_.slots == 0; }
  int next_streamed(int after) const;
  Prepared prepare_block(int i) const;
  void start_prefetch(int i);
  Prepared take_prefetched(int i);
  void upload_block(DeviceWeights& w, Prepared p);
  void load_slot(Slot& slot, int i);
  Slot* slot_holding(int i);

  DeviceWeights& weights_;
  std::vector<std::string> prefixes_;
  std::vector<std::vector<std::string>> names_;  // per block
  std::vector<uint64_t> bytes_;
  BlockStreamPlan plan_;
  bool planned_ = false;
  uint64_t planned_one_ = 0, planned_two_ = 0;  // the activations plan_forward() last planned for
  uint64_t others_ = 0;  // the device bytes in use beside this streamer's when plan_forward() planned
  uint64_t models_ = 0;  // of which other models' weights
  std::vector<Slot> slots_;
  int next_slot_ = 0;
  int last_acquired_ = -1;
  std::vector<uint64_t> submitted_;  // timeline values of release() submissions not yet waited for
  const gpu::CommandStream* waited_on_ = nullptr;  // the stream those values belong to
  std::future<Prepared> prefetch_;
  int prefetch_block_ = -1;
  BlockStreamStats stats_;
};

}  // namespace lattice
