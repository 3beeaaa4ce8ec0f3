#include "tests/support/editor_test_nodes.h"

#include <chrono>
#include <mutex>
#include <thread>

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

    NodeDesc previewer;
    previewer.type = "test.previewer";
    previewer.category = "Test";
    previewer.outputs = {{"image", PortType::Image, ""}};
    previewer.params = {{"steps", ParamType::Int, 5, "", 1, 1000}, {"step_ms", ParamType::Int, 5, "", 0, 10000}};
    previewer.evaluate = [](EvalContext& c) {
      const int steps = static_cast<int>(c.integer("steps"));
      for (int i = 1; i <= steps; ++i) {
        c.check_cancel();
        std::this_thread::sleep_for(std::chrono::milliseconds(c.integer("step_ms")));
        c.step(i, steps);
        if (!c.wants_preview()) continue;
        auto p = std::make_shared<ImageData>(2, 2, 3);
        std::fill(p->pixels.begin(), p->pixels.end(), static_cast<float>(i) / static_cast<float>(steps));
        c.preview(i, steps, std::move(p));
      }
      auto out = std::make_shared<ImageData>(4, 4, 3);
      std::fill(out->pixels.begin(), out->pixels.end(), 1.0f);
      c.set_output("image", std::move(out));
    };
    NodeRegistry::instance().add(previewer);
  });
}

}  // namespace lattice::test
