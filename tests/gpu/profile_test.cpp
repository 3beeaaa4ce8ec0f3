#include "gpu/profile.h"

#include "gpu/command_stream.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/unary.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// Streams made while profiling is on time each command and add it under its label once the batch is
// reclaimed; streams made while it is off add nothing.
TEST_F(GpuTest, ProfileTimesEachCommandByLabel) {
  const bool was = profile::enabled();
  profile::set_enabled(true);
  profile::reset();
  const Tensor x = Tensor::from_floats(ctx(), testing::random_floats(4096, 7), {64, 64});
  {
    CommandStream s(ctx());
    ASSERT_TRUE(s.profiling());
    Tensor y = unary(s, UnaryOp::Silu, x);
    s.label("labelled add");
    y = add(s, y, x);
    y = add(s, y, x);
    s.finish();
    // A second batch on the same stream reuses the query pool of the first.
    y = unary(s, UnaryOp::Silu, y);
    s.finish();
  }
  const std::string r = profile::report();
  EXPECT_NE(r.find("4 commands"), std::string::npos) << r;
  EXPECT_NE(r.find("labelled add"), std::string::npos) << r;
  EXPECT_NE(r.find("unary"), std::string::npos) << r;
  EXPECT_NE(r.find("binary"), std::string::npos) << r;  // the unlabelled add keeps its kernel name

  profile::set_enabled(false);
  profile::reset();
  {
    CommandStream s(ctx());
    EXPECT_FALSE(s.profiling());
    s.label("ignored");
    Tensor y = unary(s, UnaryOp::Silu, x);
    s.finish();
  }
  EXPECT_EQ(profile::report().find("ignored"), std::string::npos);
  EXPECT_NE(profile::report().find("0 commands"), std::string::npos);
  profile::set_enabled(was);
}

}  // namespace
}  // namespace lattice::gpu
