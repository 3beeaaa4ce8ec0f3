#include "gpu/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace lattice::gpu {
namespace {

TEST(DType, F16KnownValues) {
  EXPECT_EQ(float_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(float_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_f16(1e6f), 0x7c00);  // overflow to inf
  EXPECT_EQ(float_to_f16(5.96046448e-8f), 0x0001);  // smallest subnormal
  EXPECT_EQ(f16_to_float(0x3555), 0.333251953125f);
  EXPECT_TRUE(std::isnan(f16_to_float(float_to_f16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_float(float_to_bf16(3.14159f)), 3.140625f);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DType, Fp8KnownValues) {
  EXPECT_EQ(float_to_f8e4m3fn(448.0f), 0x7e);
  EXPECT_EQ(float_to_f8e4m3fn(1000.0f), 0x7e);  // saturates
  EXPECT_EQ(float_to_f8e4m3fn(1.0f), 0x38);
  EXPECT_EQ(f8e4m3fn_to_float(0x01), 0.001953125f);  // 2^-9
  EXPECT_TRUE(std::isnan(f8e4m3fn_to_float(0x7f)));
  EXPECT_EQ(float_to_f8e5m2(57344.0f), 0x7b);
  EXPECT_EQ(float_to_f8e5m2(1.0f), 0x3c);
  EXPECT_TRUE(std::isinf(f8e5m2_to_float(0x7c)));
}

TEST(DType, EveryCodeRoundTrips) {
  for (uint32_t c = 0; c < 256; ++c) {
    float v = f8e4m3fn_to_float(static_cast<uint8_t>(c));
    if (!std::isnan(v)) {
      EXPECT_EQ(f8e4m3fn_to_float(float_to_f8e4m3fn(v)), v) << c;
    }
    float w = f8e5m2_to_float(static_cast<uint8_t>(c));
    if (std::isfinite(w)) {  // infinity saturates by design
      EXPECT_EQ(float_to_f8e5m2(w), c) << c;
    }
  }
  for (uint32_t c = 0; c < 65536; c += 7) {
    float v = f16_to_float(static_cast<uint16_t>(c));
    if (!std::isnan(v)) {
      EXPECT_EQ(float_to_f16(v), c) << c;
    }
  }
}

}  // namespace
}  // namespace lattice::gpu
