// Frame sequence listing: numbering, padding, other files, and bad patterns.
#include "core/frame_sequence.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "core/error.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

TEST(FrameSequence, ListsByNumberAndPadding) {
  const fs::path dir = fs::temp_directory_path() / ("lattice_seq_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"a.012.png", "a.003.png", "a.1000.png", "a.0042.png", "a.5.png", "a.x09.png", "b.004.png",
                        "a.004.exr", "a.007.png.tmp"})
    std::ofstream(dir / f) << "x";
  std::vector<int64_t> n;
  for (const auto& [k, p] : list_frame_sequence(dir / "a.###.png")) {
    n.push_back(k);
    EXPECT_EQ(p.parent_path(), dir);
  }
  // 1000 needs four digits (substitute_frame writes it so); 0042 and 5 are padded otherwise.
  EXPECT_EQ(n, (std::vector<int64_t>{3, 12, 1000}));
  EXPECT_TRUE(is_sequence_pattern(dir / "a.###.png"));
  EXPECT_FALSE(is_sequence_pattern(fs::path("shots#1") / "a.png"));
  EXPECT_TRUE(list_frame_sequence(dir / "none.#.png").empty());
  EXPECT_THROW(list_frame_sequence(dir / "a.#.b.#.png"), Error);
  EXPECT_THROW(list_frame_sequence(dir / "a.png"), Error);
  EXPECT_THROW(list_frame_sequence(dir / "missing" / "a.#.png"), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lattice
