#include "core/cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <utility>

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

// A value with a device part, as TensorValue has: spilling moves `device` bytes to the host. `holder` names
// the device it lives on; `busy` marks it as in use by someone else, so spilling it would free nothing.
class FakeDeviceValue final : public Data {
 public:
  FakeDeviceValue(size_t bytes, const void* holder) : device_(bytes), holder_(holder) {}
  PortType type() const override { return PortType::Latent; }
  size_t bytes() const override { return device_ + host_; }
  size_t device_bytes() const override { return device_; }
  std::string describe() const override { return "fake latent"; }
  size_t spill_to_host(const void* device) const override {
    if (busy || device_ == 0 || (device && device != holder_)) return 0;
    host_ = std::exchange(device_, 0);
    return host_;
  }
  void upload() const { device_ = std::exchange(host_, 0); }  // as a consumer's device() would, minus the host copy
  mutable bool busy = false;

 private:
  mutable size_t device_, host_ = 0;
  const void* holder_;
};

struct FakeEntry {
  CacheEntryPtr entry;
  const FakeDeviceValue* value;
};
FakeEntry device_entry(size_t bytes, const void* holder) {
  auto v = std::make_shared<FakeDeviceValue>(bytes, holder);
  auto e = std::make_shared<CacheEntry>();
  e->outputs.emplace_back("latent", v);
  return {e, v.get()};
}

TEST(MemoryCache, SpillsLeastRecentlyUsedDeviceValuesToHost) {
  const int device = 0;
  MemoryCache c(size_t{1} << 30);
  std::vector<FakeEntry> e;
  for (uint64_t i = 0; i < 4; ++i) {
    e.push_back(device_entry(1000, &device));
    c.insert(key(i), e.back().entry);
  }
  const size_t overhead = e[0].entry->bytes() - 1000;
  EXPECT_EQ(c.device_used(), 4000u);
  EXPECT_EQ(c.used(), 4 * (1000 + overhead));
  ASSERT_TRUE(c.lookup(key(0)));  // 0 becomes most recent: 1 is the least recently used
  e[2].value->busy = true;        // a running node holds 2's device memory

  // 1500 bytes needed: 1 (the LRU) frees 1000, 2 is skipped, 3 frees the rest; 0 stays on the device.
  EXPECT_EQ(c.spill_device(1500, &device), 2000u);
  EXPECT_EQ(e[1].value->device_bytes(), 0u);
  EXPECT_EQ(e[2].value->device_bytes(), 1000u);
  EXPECT_EQ(e[3].value->device_bytes(), 0u);
  EXPECT_EQ(e[0].value->device_bytes(), 1000u);
  EXPECT_EQ(c.spills(), 2u);
  EXPECT_EQ(c.spilled_bytes(), 2000u);
  // Accounting: the device part moved to the host; the total is unchanged; nothing was evicted.
  EXPECT_EQ(c.device_used(), 2000u);
  EXPECT_EQ(c.used(), 4 * (1000 + overhead));
  EXPECT_EQ(c.size(), 4u);
  EXPECT_EQ(c.evictions(), 0u);
  // Keys are unchanged: the spilled entries are still hits, with the same values.
  EXPECT_EQ(c.lookup(key(1)), e[1].entry);
  EXPECT_EQ(c.lookup(key(3)), e[3].entry);

  // Values on another device, and a request nothing can serve, free nothing.
  const int other = 0;
  EXPECT_EQ(c.spill_device(1, &other), 0u);
  e[2].value->busy = false;
  EXPECT_EQ(c.spill_device(size_t{1} << 20, nullptr), 2000u);  // 2 and 0: everything left
  EXPECT_EQ(c.device_used(), 0u);
  EXPECT_EQ(c.spills(), 4u);
}

TEST(MemoryCache, ReleasesWhatItChargedWhenValuesChangeResidency) {
  // A consumer re-uploads a spilled value behind the cache's back: the next lookup re-measures it, and
  // erasing releases exactly what is charged, so the totals return to zero.
  const int device = 0;
  MemoryCache c(size_t{1} << 30);
  FakeEntry a = device_entry(1000, &device), b = device_entry(500, &device);
  c.insert(key(1), a.entry);
  c.insert(key(2), b.entry);
  EXPECT_EQ(c.spill_device(1, &device), 1000u);  // a, the older
  EXPECT_EQ(c.device_used(), 500u);
  a.value->upload();
  ASSERT_TRUE(c.lookup(key(1)));
  EXPECT_EQ(c.device_used(), 1500u);
  c.erase(key(1));
  EXPECT_EQ(c.device_used(), 500u);
  c.erase(key(2));
  EXPECT_EQ(c.used(), 0u);
  EXPECT_EQ(c.device_used(), 0u);
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
