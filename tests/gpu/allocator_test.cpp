#include "gpu/allocator.h"

#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

TEST_F(GpuTest, SubAllocatesAndMergesFreeRanges) {
  Allocator alloc(ctx().device(), 1 << 20);
  {
    auto a = alloc.create_buffer(1000, MemoryKind::DeviceLocal);
    auto b = alloc.create_buffer(2000, MemoryKind::DeviceLocal);
    auto c = alloc.create_buffer(3000, MemoryKind::DeviceLocal);
    EXPECT_EQ(alloc.block_count(), 1u);
    EXPECT_EQ(alloc.current_device_bytes(), 6000u);
    b.reset();
    a.reset();
    // a and b merged: a request larger than either alone still fits the first block.
    auto d = alloc.create_buffer(2900, MemoryKind::DeviceLocal);
    EXPECT_EQ(alloc.block_count(), 1u);
  }
  EXPECT_EQ(alloc.current_device_bytes(), 0u);
  EXPECT_EQ(alloc.peak_device_bytes(), 6000u);  // a+b+c; c+d was less
  // The pool keeps its only block rather than churn.
  EXPECT_EQ(alloc.block_count(), 1u);
}

TEST_F(GpuTest, LargeRequestsGetDedicatedMemory) {
  Allocator alloc(ctx().device(), 1 << 20);
  auto big = alloc.create_buffer(600 << 10, MemoryKind::DeviceLocal);
  EXPECT_EQ(alloc.block_count(), 0u);
  EXPECT_GE(alloc.reserved_bytes(), 600u << 10);
  big.reset();
  EXPECT_EQ(alloc.reserved_bytes(), 0u);
}

TEST_F(GpuTest, HostVisibleBuffersAreMapped) {
  auto b = ctx().allocator().create_buffer(256, MemoryKind::HostVisible);
  EXPECT_NE(b->mapped(), nullptr);
}

TEST_F(GpuTest, TooLargeBufferIsRefusedClearly) {
  try {
    ctx().allocator().create_buffer(ctx().device().max_buffer_bytes() + 1, MemoryKind::DeviceLocal);
    FAIL();
  } catch (const DeviceError& e) {
    EXPECT_EQ(e.failure(), Failure::Unsupported);
    EXPECT_NE(std::string(e.what()).find("split"), std::string::npos);
  }
}

TEST_F(GpuTest, BudgetExceededIsOutOfMemory) {
  Allocator& alloc = ctx().allocator();
  std::vector<std::shared_ptr<Buffer>> held;
  uint64_t chunk = std::min<uint64_t>(ctx().device().max_buffer_bytes(), 64ull << 20);
  try {
    // Never touches the memory, so this is cheap even on lavapipe; the budget trips before Vulkan does.
    for (int i = 0; i < 1000; ++i) held.push_back(alloc.create_buffer(chunk, MemoryKind::DeviceLocal));
    FAIL() << "budget never exceeded";
  } catch (const DeviceError& e) {
    EXPECT_EQ(e.failure(), Failure::OutOfMemory);
    EXPECT_EQ(e.exit_code(), 4);
  }
  EXPECT_LE(alloc.current_device_bytes(), alloc.budget_bytes());
}

TEST_F(GpuTest, ReclaimerFreesMemoryBeforeTheBudgetRefuses) {
  Allocator alloc(ctx().device(), 1 << 20);
  alloc.set_budget(3000);
  std::vector<std::shared_ptr<Buffer>> held = {alloc.create_buffer(1000, MemoryKind::DeviceLocal),
                                               alloc.create_buffer(1000, MemoryKind::DeviceLocal)};
  std::vector<uint64_t> asked;
  alloc.set_reclaimer([&](uint64_t needed) -> uint64_t {
    asked.push_back(needed);
    if (held.empty()) return 0;
    const uint64_t freed = held.front()->size();
    held.erase(held.begin());
    // An allocation made while reclaiming (a download's staging) does not ask the reclaimer again.
    EXPECT_THROW(alloc.create_buffer(4000, MemoryKind::DeviceLocal), DeviceError);
    return freed;
  });
  auto fits = alloc.create_buffer(500, MemoryKind::DeviceLocal);  // within budget: no reclaiming
  EXPECT_TRUE(asked.empty());
  auto c = alloc.create_buffer(1000, MemoryKind::DeviceLocal);  // 3500 > 3000: the first buffer goes
  ASSERT_EQ(asked, (std::vector<uint64_t>{500}));
  EXPECT_EQ(alloc.current_device_bytes(), 2500u);
  auto d = alloc.create_buffer(1400, MemoryKind::DeviceLocal);  // 3900: one more round, then it fits
  EXPECT_EQ(asked.size(), 2u);
  EXPECT_TRUE(held.empty());
  try {
    alloc.create_buffer(2000, MemoryKind::DeviceLocal);  // nothing left to free
    FAIL() << "the budget was not enforced";
  } catch (const DeviceError& e) {
    EXPECT_EQ(e.failure(), Failure::OutOfMemory);
    EXPECT_NE(std::string(e.what()).find("after spilling"), std::string::npos) << e.what();
  }
  EXPECT_LE(alloc.current_device_bytes(), alloc.budget_bytes());
}

TEST_F(GpuTest, BudgetFromTheEnvironmentIsParsedOrRefused) {
  // LATTICE_GPU_BUDGET_MB takes MiB, fractions allowed; anything else is a usage error, not a budget of 0.
  setenv("LATTICE_GPU_BUDGET_MB", "1.5", 1);
  {
    Allocator alloc(ctx().device(), 1 << 20);
    EXPECT_EQ(alloc.budget_bytes(), 3u << 19);
  }
  for (const char* bad : {"", "abc", "12MB", "-1", "0", "nan", "inf"}) {
    setenv("LATTICE_GPU_BUDGET_MB", bad, 1);
    try {
      Allocator alloc(ctx().device(), 1 << 20);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const lattice::Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Usage) << bad;
      EXPECT_NE(std::string(e.what()).find("LATTICE_GPU_BUDGET_MB"), std::string::npos) << e.what();
    }
  }
  unsetenv("LATTICE_GPU_BUDGET_MB");
}

TEST_F(GpuTest, TexelViewsAreMadeOncePerFormatAndDieWithTheBuffer) {
  const Device& d = ctx().device();
  if (!d.supports_uniform_texel(VK_FORMAT_R32G32B32A32_SFLOAT) || !d.supports_uniform_texel(VK_FORMAT_R32G32B32A32_UINT))
    GTEST_SKIP() << "the device has no RGBA32 uniform texel buffers";
  auto buf = ctx().allocator().create_buffer(4096, MemoryKind::DeviceLocal);
  const VkBufferView f = buf->texel_view(VK_FORMAT_R32G32B32A32_SFLOAT);
  EXPECT_NE(f, VK_NULL_HANDLE);
  EXPECT_EQ(buf->texel_view(VK_FORMAT_R32G32B32A32_SFLOAT), f);
  const VkBufferView u = buf->texel_view(VK_FORMAT_R32G32B32A32_UINT);
  EXPECT_NE(u, f);
  EXPECT_EQ(buf->texel_view(VK_FORMAT_R32G32B32A32_UINT), u);
  // Destroys both views before the buffer; the validation layer (GpuTest) would report either order's error.
  buf.reset();
}

}  // namespace
}  // namespace lattice::gpu
