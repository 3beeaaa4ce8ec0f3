#pragma once
/// Blocks the text encoders (CLIP, T5/UMT5) share beyond nn.h: the token-embedding lookup, done on the
/// host, attention on packed heads with the bias and causal options nn.h's attention() does not take, and
/// a shape lookup for config detection.
///
/// The lookup reads only the requested rows of the table straight from the WeightSource's mapping (a
/// CLIP-L table is 49408 x 768, a T5-XXL one 32128 x 4096: uploading them whole would cost hundreds of MiB
/// for a few hundred ids; there is also no gather op on the device). Rows are converted to f32 exactly
/// (f32, f16, bf16). Both functions are stateless; the attention records into the caller's stream.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gpu/command_stream.h"
#include "gpu/ops/attention.h"
#include "gpu/tensor.h"
#include "nodes/models/token_batch.h"
#include "nodes/models/weights.h"

namespace lattice {

/// Rows `ids` of the 2-D table `name` as f32 values, row after row: [ids.size(), table width].
/// Throws Error(InvalidInput) naming the tensor for an id outside the table or a table that is not 2-D.
std::vector<float> embedding_rows(const WeightSource& w, const std::string& name, std::span<const int32_t> ids);

/// Prompts as the encoders take them: ids (and attention masks) row after row, [prompts.size(), L]. Every
/// prompt must have the same length L; throws Error(Evaluation) naming the first that does not.
struct TokenRows {
  std::vector<int32_t> ids, mask;
  int64_t batch = 0;
};
TokenRows token_rows(std::span<const TokenBatch> prompts);

/// Size of dimension `axis` of tensor `name`; throws Error(InvalidInput) naming the tensor when it is absent
/// or has too few dimensions (for config detection).
int64_t tensor_dim(const WeightSource& w, const std::string& name, size_t axis);

}  // namespace lattice
