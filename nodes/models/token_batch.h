#pragma once
/// A tokenized prompt in the fixed-length form text encoders take: ids padded to max_len plus the
/// attention mask. Shared by the CLIP and T5 tokenizers (nodes/models/clip/tokenizer.h,
/// nodes/models/t5/tokenizer.h). Plain values: no ownership, no threading concerns.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace lattice {

struct TokenBatch {
  std::vector<int32_t> ids;             ///< exactly max_len ids: [bos] + body + [eos] + padding
  std::vector<int32_t> attention_mask;  ///< max_len entries: 1 for bos..eos, 0 for padding
  size_t valid_len = 0;                 ///< number of 1s in attention_mask (index of the first pad)
  bool truncated = false;               ///< the body was cut to fit max_len
};

/// Builds `[bos] + body[:max_len - specials] + [eos]` padded with pad_id to max_len, the layout
/// transformers' tokenizers return for `padding="max_length", truncation=True` (EOS stays last when
/// truncating). bos is absent for T5. Throws Error(InvalidInput) when max_len cannot hold the specials.
TokenBatch make_token_batch(std::span<const int32_t> body, std::optional<int32_t> bos, int32_t eos,
                            int32_t pad_id, int max_len);

}  // namespace lattice
