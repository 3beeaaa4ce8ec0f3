// TileGrid (nodes/models/vae/tiling.h), the tile grid every tiled VAE pass blends through: its tiles cover
// the latent with the requested overlap, blending equal tiles gives the value back at every output pixel,
// a grid that does not tile is one tile of weight 1, and a bad overlap is a clear error.
#include "nodes/models/vae/tiling.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace lattice {
namespace {

TEST(TileGrid, TilesCoverTheLatentWithTheOverlap) {
  const TileGrid g(10, 7, 4, 1, 8, "test");
  ASSERT_TRUE(g.tiled());
  EXPECT_EQ(g.tile_h(), 4);
  EXPECT_EQ(g.tile_w(), 4);
  EXPECT_EQ(g.out_tile_h(), 32);
  ASSERT_EQ(g.rows(), 3u);  // 0, 3, 6 (the last pulled back to end at 10)
  EXPECT_EQ(g.y(1), 3);
  EXPECT_EQ(g.y(2), 6);
  ASSERT_EQ(g.cols(), 2u);  // 0, 3
  EXPECT_EQ(g.x(1), 3);
  EXPECT_EQ(g.count(), 6u);
  EXPECT_EQ(g.weights(0, 0).size(), 32u * 32u);
}

TEST(TileGrid, BlendingEqualTilesGivesTheValueBack) {
  // Two planes, each tile filled with its plane's value: the blend is that value everywhere, so the
  // weights of every output pixel sum to 1 however many tiles cover it.
  for (int64_t scale : {1, 4}) {
    const TileGrid g(9, 6, 4, 2, scale, "test");
    const int64_t H = 9 * scale, W = 6 * scale, TH = g.out_tile_h(), TW = g.out_tile_w();
    std::vector<float> acc(static_cast<size_t>(2 * H * W), 0.0f);
    std::vector<float> tile(static_cast<size_t>(2 * TH * TW));
    for (int64_t i = 0; i < 2 * TH * TW; ++i) tile[static_cast<size_t>(i)] = i < TH * TW ? 3.0f : -1.5f;
    for (size_t a = 0; a < g.rows(); ++a)
      for (size_t b = 0; b < g.cols(); ++b) g.accumulate(acc.data(), tile, a, b);
    for (int64_t i = 0; i < 2 * H * W; ++i) ASSERT_NEAR(acc[static_cast<size_t>(i)], i < H * W ? 3.0f : -1.5f, 1e-5f) << i;
  }
}

TEST(TileGrid, AccumulatePlacesATileAtItsStart) {
  // A lone tile's weights are 1 where no neighbour overlaps: its values land at its output offset.
  const TileGrid g(8, 8, 4, 0, 2, "test");
  ASSERT_EQ(g.count(), 4u);
  std::vector<float> acc(16 * 16, 0.0f), tile(8 * 8);
  for (size_t i = 0; i < tile.size(); ++i) tile[i] = static_cast<float>(i);
  g.accumulate(acc.data(), tile, 1, 0);  // latent (4, 0): output rows 8..15, columns 0..7
  for (int64_t r = 0; r < 16; ++r)
    for (int64_t c = 0; c < 16; ++c) {
      const float want = r >= 8 && c < 8 ? static_cast<float>((r - 8) * 8 + c) : 0.0f;
      ASSERT_EQ(acc[static_cast<size_t>(r * 16 + c)], want) << r << ", " << c;
    }
}

TEST(TileGrid, NoTilingIsOneTileOfWeightOne) {
  for (int64_t tile : {0, 12}) {
    const TileGrid g(5, 6, tile, 99, 8, "test");  // the overlap is not checked where nothing is tiled
    EXPECT_FALSE(g.tiled());
    ASSERT_EQ(g.count(), 1u);
    EXPECT_EQ(g.tile_h(), 5);
    EXPECT_EQ(g.tile_w(), 6);
    for (float w : g.weights(0, 0)) ASSERT_EQ(w, 1.0f);
  }
}

TEST(TileGrid, BadOverlapIsAnError) {
  for (int64_t overlap : {-1, 4, 5}) {
    try {
      TileGrid(10, 10, 4, overlap, 8, "Some VAE tiled decode");
      ADD_FAILURE() << "overlap " << overlap << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Evaluation);
      EXPECT_EQ(std::string(e.what()), "Some VAE tiled decode: overlap " + std::to_string(overlap) + " must be in [0, tile 4)");
    }
  }
}

}  // namespace
}  // namespace lattice
