#include "core/cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/types/basic.h"
#include "core/types/image.h"
#include "core/types/tensor.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

CacheEntryPtr entry_with_image(int side) {
  auto e = std::make_shared<CacheEntry>();
  auto img = std::make_shared<ImageData>(side, side, 4);
  for (size_t i = 0; i < img->pixels.size(); ++i) img->pixels[i] = static_cast<float>(i) * 0.25f;
  e->outputs.emplace_back("image", img);
  return e;
}

Key128 key(uint64_t i) { return Hasher().u64(i).finish(); }

TEST(MemoryCache, EvictsLeastRecentlyUsedWithinBudget) {
  const size_t one = entry_with_image(64)->bytes();
  MemoryCache c(one * 3 + one / 2);
  for (uint64_t i = 0; i < 3; ++i) c.insert(key(i), entry_with_image(64));
  EXPECT_EQ(c.size(), 3u);
  ASSERT_TRUE(c.lookup(key(0)));  // 0 becomes most recent; 1 is now the oldest
  c.insert(key(3), entry_with_image(64));
  EXPECT_TRUE(c.lookup(key(0)));
  EXPECT_FALSE(c.lookup(key(1)));
  EXPECT_TRUE(c.lookup(key(2)));
  EXPECT_TRUE(c.lookup(key(3)));
  EXPECT_LE(c.used(), c.budget());
  EXPECT_EQ(c.evictions(), 1u);
}

TEST(MemoryCache, EntryLargerThanBudgetIsNotStoredAndHeldValuesSurviveEviction) {
  MemoryCache c(1000);
  auto big = entry_with_image(64);
  c.insert(key(1), big);
  EXPECT_FALSE(c.lookup(key(1)));
  MemoryCache d(big->bytes() + 10);
  d.insert(key(1), big);
  auto held = d.lookup(key(1));
  d.insert(key(2), entry_with_image(64));  // evicts key 1
  EXPECT_FALSE(d.lookup(key(1)));
  ASSERT_TRUE(held);
  EXPECT_EQ(held->outputs.size(), 1u);  // still valid for its holder
}

class DiskCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("lattice_disk_" + std::to_string(::getpid()));
    fs::remove_all(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

TEST_F(DiskCacheTest, StoresAndLoadsEveryCoreType) {
  DiskCache disk(dir);
  auto e = std::make_shared<CacheEntry>();
  e->outputs.emplace_back("n", make_number(2.5));
  e->outputs.emplace_back("s", make_string("hello"));
  e->outputs.emplace_back("i", entry_with_image(5)->outputs[0].second);
  e->outputs.emplace_back("t", std::make_shared<TensorData>(HostTensor::from_f32({2, 3}, {1, 2, 3, 4, 5, 6})));
  e->files.push_back("/tmp/x.png");
  ASSERT_TRUE(disk.store(key(7), *e));
  DiskCache again(dir);  // a new process would see the same folder
  auto got = again.load(key(7));
  ASSERT_TRUE(got);
  ASSERT_EQ(got->outputs.size(), 4u);
  EXPECT_EQ(dynamic_cast<const NumberData&>(**got->find("n")).value, 2.5);
  EXPECT_EQ(dynamic_cast<const StringData&>(**got->find("s")).value, "hello");
  const auto& img = dynamic_cast<const ImageData&>(**got->find("i"));
  EXPECT_EQ(img.pixels, dynamic_cast<const ImageData&>(*e->outputs[2].second).pixels);
  const auto& t = dynamic_cast<const TensorData&>(**got->find("t")).tensor;
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.to_f32()[5], 6.0f);
  EXPECT_EQ(got->files, e->files);
  EXPECT_FALSE(again.load(key(8)));
}

TEST_F(DiskCacheTest, CorruptOrTruncatedEntriesAreDiscarded) {
  DiskCache disk(dir);
  for (int mode = 0; mode < 3; ++mode) {
    ASSERT_TRUE(disk.store(key(1), *entry_with_image(16)));
    const fs::path p = disk.path_for(key(1));
    std::string bytes;
    {
      std::ifstream f(p, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(f), {});
    }
    if (mode == 0) bytes.resize(bytes.size() / 2);         // truncated
    if (mode == 1) bytes[bytes.size() / 2] ^= 0x40;        // one flipped bit in the payload
    if (mode == 2) bytes = "not a cache entry at all";     // garbage
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
    std::string problem;
    EXPECT_FALSE(disk.load(key(1), &problem)) << mode;
    EXPECT_NE(problem.find("discarded"), std::string::npos) << problem;
    EXPECT_FALSE(fs::exists(p)) << "corrupt entry should be deleted";
  }
}

TEST_F(DiskCacheTest, EntryUnderAnotherKeyIsRejected) {
  DiskCache disk(dir);
  ASSERT_TRUE(disk.store(key(1), *entry_with_image(4)));
  fs::create_directories(disk.path_for(key(2)).parent_path());
  fs::copy_file(disk.path_for(key(1)), disk.path_for(key(2)));
  std::string problem;
  EXPECT_FALSE(disk.load(key(2), &problem));
  EXPECT_NE(problem.find("key mismatch"), std::string::npos) << problem;
}

}  // namespace
}  // namespace lattice
