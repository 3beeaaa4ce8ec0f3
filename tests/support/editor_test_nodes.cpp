#include "tests/support/editor_test_nodes.h"

#include <mutex>

#include "core/eval_context.h"
#include "core/types/video.h"

namespace lattice::test {

void register_editor_test_nodes() {
  static std::once_flag once;
  std::call_once(once, [] {
    NodeDesc video;
    video.type = "test.video";
    video.category = "Test";
    video.outputs = {{"video", PortType::Video, ""}};
    video.params = {{"frames", ParamType::Int, 3, "", 1, 100},
                    {"fps_num", ParamType::Int, 24, "", 1, 240000},
                    {"fps_den", ParamType::Int, 1, "", 1, 1001}};
    video.evaluate = [](EvalContext& c) {
      std::vector<ImagePtr> frames;
      for (int i = 0; i < static_cast<int>(c.integer("frames")); ++i) {
        auto f = std::make_shared<ImageData>(4, 2, 3);
        std::fill(f->pixels.begin(), f->pixels.end(), static_cast<float>(i + 1) / 10);
        frames.push_back(std::move(f));
      }
      c.set_output("video", std::make_shared<VideoData>(std::move(frames), static_cast<int>(c.integer("fps_num")),
                                                        static_cast<int>(c.integer("fps_den"))));
    };
    NodeRegistry::instance().add(video);
  });
}

}  // namespace lattice::test
