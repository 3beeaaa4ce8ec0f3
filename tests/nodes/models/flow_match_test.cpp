// FlowMatchConfig and diffusers' scheduler_config.json: what flow_match_config_from_json reads, what
// flow_match_config_to_json writes back, and the options it refuses.
#include <gtest/gtest.h>

#include "core/error.h"
#include "nodes/models/flow_match.h"
#include "nodes/models/flux/sampler.h"
#include "nodes/models/ltx/sampler.h"

namespace lattice {
namespace {

TEST(FlowMatchConfig, ReadsWhatItWrites) {
  for (const FlowMatchConfig& c : {flux_dev_scheduler(), flux_schnell_scheduler(), ltx_flow_match_config()})
    EXPECT_EQ(flow_match_config_from_json(flow_match_config_to_json(c)), c);
}

TEST(FlowMatchConfig, FluxReleasesSchedulerConfigs) {
  // FLUX.1-dev's and FLUX.1-schnell's scheduler/scheduler_config.json (examples/models/FLUX.1-*/scheduler).
  const auto dev = flow_match_config_from_json(nlohmann::json::parse(
      R"({"_class_name": "FlowMatchEulerDiscreteScheduler", "base_image_seq_len": 256, "base_shift": 0.5,
          "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": true})"));
  EXPECT_EQ(dev, flux_dev_scheduler());
  const auto schnell = flow_match_config_from_json(nlohmann::json::parse(
      R"({"_class_name": "FlowMatchEulerDiscreteScheduler", "base_image_seq_len": 256, "base_shift": 0.5,
          "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 1.0, "use_dynamic_shifting": false})"));
  EXPECT_EQ(schnell, flux_schnell_scheduler());
}

TEST(FlowMatchConfig, RefusesWhatTheSchedulerDoesNotImplement) {
  for (const char* j : {R"({"use_karras_sigmas": true})", R"({"time_shift_type": "linear"})", R"({"stochastic_sampling": true})",
                        R"({"invert_sigmas": true})"}) {
    try {
      flow_match_config_from_json(nlohmann::json::parse(j));
      ADD_FAILURE() << j;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << j;
      EXPECT_NE(std::string(e.what()).find("FlowMatchEulerDiscreteScheduler"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace lattice
