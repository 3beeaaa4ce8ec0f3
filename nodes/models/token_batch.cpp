#include "nodes/models/token_batch.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace lattice {

TokenBatch make_token_batch(std::span<const int32_t> body, std::optional<int32_t> bos, int32_t eos,
                            int32_t pad_id, int max_len) {
  const size_t specials = bos ? 2 : 1;
  if (max_len < 0 || static_cast<size_t>(max_len) < specials) {
    throw_invalid("token batch: max_len " + std::to_string(max_len) + " cannot hold " +
                  std::to_string(specials) + " special token(s)");
  }
  const size_t len = static_cast<size_t>(max_len);
  const size_t keep = std::min(body.size(), len - specials);
  TokenBatch batch;
  batch.truncated = keep < body.size();
  batch.ids.reserve(len);
  if (bos) batch.ids.push_back(*bos);
  batch.ids.insert(batch.ids.end(), body.begin(), body.begin() + static_cast<std::ptrdiff_t>(keep));
  batch.ids.push_back(eos);
  batch.valid_len = batch.ids.size();
  batch.ids.resize(len, pad_id);
  batch.attention_mask.assign(len, 0);
  std::fill_n(batch.attention_mask.begin(), batch.valid_len, 1);
  return batch;
}

}  // namespace lattice
