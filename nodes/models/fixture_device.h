#pragma once
/// What the model fixture runners (nodes/models/*/*_fixture.cpp) share on the device side: the fixture's weights
/// ("weights." stripped), first checked against the checkpoint shapes the config implies (check_fixture_weights),
/// on a GPU context of their own, and the download of a result as a fixture output.
/// Members are declared in the order they must be made (and destroyed in reverse): the weights' source, the
/// context, the device weights that read from both.
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/nn.h"

namespace lattice {

struct FixtureDevice {
  /// `expected`: every checkpoint tensor of the component, as its config implies (e.g. flux_checkpoint_shapes).
  FixtureDevice(const Fixture& fx, const TensorShapes& expected)
      : src((check_fixture_weights(fx, expected), fixture_weights(fx))), ctx(gpu.context()), weights(src, ctx) {}
  /// For a component with no shape table yet (the LTX-Video VAE): its weights are checked only as the model loads
  /// them and the ops use them (a mismatch then names the op, not the tensor; still exit 3).
  explicit FixtureDevice(const Fixture& fx) : src(fixture_weights(fx)), ctx(gpu.context()), weights(src, ctx) {}
  WeightSource src;
  GpuService gpu;
  gpu::Context& ctx;
  DeviceWeights weights;
};

/// A finished device tensor as a fixture output (f32).
inline HostTensor fixture_output(const gpu::Tensor& t) { return HostTensor::from_f32(t.shape(), t.to_floats()); }

}  // namespace lattice
