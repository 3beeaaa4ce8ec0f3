#include "nodes/models/token_batch.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace lattice {
namespace {

using Ids = std::vector<int32_t>;

TEST(TokenBatch, PadsWithMaskAfterEos) {
  const Ids body{5, 6};
  const TokenBatch b = make_token_batch(body, 100, 101, 0, 6);
  EXPECT_EQ(b.ids, (Ids{100, 5, 6, 101, 0, 0}));
  EXPECT_EQ(b.attention_mask, (Ids{1, 1, 1, 1, 0, 0}));
  EXPECT_EQ(b.valid_len, 4u);
  EXPECT_FALSE(b.truncated);
}

TEST(TokenBatch, TruncationKeepsEosLast) {
  const Ids body{5, 6, 7, 8};
  const TokenBatch with_bos = make_token_batch(body, 100, 101, 0, 4);
  EXPECT_EQ(with_bos.ids, (Ids{100, 5, 6, 101}));
  EXPECT_TRUE(with_bos.truncated);
  const TokenBatch no_bos = make_token_batch(body, std::nullopt, 1, 0, 4);
  EXPECT_EQ(no_bos.ids, (Ids{5, 6, 7, 1}));
  EXPECT_EQ(no_bos.attention_mask, (Ids{1, 1, 1, 1}));
  EXPECT_TRUE(no_bos.truncated);
  // exactly fitting is not truncation
  EXPECT_FALSE(make_token_batch(body, std::nullopt, 1, 0, 5).truncated);
}

TEST(TokenBatch, TooShortForSpecialsIsAnError) {
  EXPECT_THROW(make_token_batch({}, 100, 101, 0, 1), Error);
  EXPECT_THROW(make_token_batch({}, std::nullopt, 1, 0, 0), Error);
  EXPECT_EQ(make_token_batch({}, std::nullopt, 1, 0, 1).ids, (Ids{1}));
}

}  // namespace
}  // namespace lattice
