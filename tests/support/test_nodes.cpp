#include "tests/support/test_nodes.h"

#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/eval_context.h"
#include "core/types/basic.h"
#include "core/types/image.h"

namespace lattice::test {

std::map<std::string, int>& executions() {
  static std::map<std::string, int> e;
  return e;
}

void reset() { executions().clear(); }

namespace {
// Evaluations may run on several worker threads at once (the service's --workers).
void count(const std::string& id) {
  static std::mutex m;
  std::lock_guard lock(m);
  executions()[id]++;
}
}  // namespace

void register_test_nodes() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& reg = NodeRegistry::instance();
    NodeDesc src;
    src.type = "test.source";
    src.category = "Test";
    src.outputs = {{"out", PortType::Number, ""}};
    src.params = {{"value", ParamType::Float, 1.0, ""}};
    src.evaluate = [](EvalContext& c) {
      count(c.node_id());
      c.set_output("out", make_number(c.number("value")));
    };
    reg.add(src);

    NodeDesc add;
    add.type = "test.add";
    add.category = "Test";
    add.inputs = {{"a", PortType::Number, ""}, {"b", PortType::Number, "", true}};
    add.outputs = {{"out", PortType::Number, ""}};
    add.params = {{"offset", ParamType::Float, 0.0, ""}};
    add.evaluate = [](EvalContext& c) {
      count(c.node_id());
      double b = c.has_input("b") ? dynamic_cast<const NumberData&>(*c.input("b")).value : 0.0;
      c.set_output("out", make_number(dynamic_cast<const NumberData&>(*c.input("a")).value + b + c.number("offset")));
    };
    reg.add(add);

    NodeDesc fail;
    fail.type = "test.fail";
    fail.category = "Test";
    fail.inputs = {{"a", PortType::Number, "", true}};
    fail.outputs = {{"out", PortType::Number, ""}};
    fail.evaluate = [](EvalContext& c) {
      count(c.node_id());
      throw std::runtime_error("deliberate failure");
    };
    reg.add(fail);

    NodeDesc slow;
    slow.type = "test.slow";
    slow.category = "Test";
    slow.inputs = {{"a", PortType::Number, ""}};
    slow.outputs = {{"out", PortType::Number, ""}};
    slow.params = {{"steps", ParamType::Int, 4, "", 1, 1000}, {"step_ms", ParamType::Int, 0, "", 0, 10000}};
    slow.evaluate = [](EvalContext& c) {
      count(c.node_id());
      const int n = static_cast<int>(c.integer("steps"));
      const auto pause = std::chrono::milliseconds(c.integer("step_ms"));
      for (int i = 1; i <= n; ++i) {
        c.check_cancel();
        if (pause.count() > 0) std::this_thread::sleep_for(pause);
        c.step(i, n);
      }
      c.set_output("out", c.input("a"));
    };
    reg.add(slow);

    NodeDesc write;
    write.type = "test.write";
    write.category = "Test";
    write.inputs = {{"a", PortType::Number, ""}};
    write.outputs = {{"path", PortType::String, ""}};
    write.params = {{"path", ParamType::OutPath, "out.txt", ""}};
    write.side_effect = true;
    write.disk_cacheable = false;
    write.evaluate = [](EvalContext& c) {
      count(c.node_id());
      auto p = c.out_path("path");
      std::ofstream(p) << dynamic_cast<const NumberData&>(*c.input("a")).value;
      c.wrote_file(p);
      c.set_output("path", make_string(p.string()));
    };
    reg.add(write);

    NodeDesc img;
    img.type = "test.image";
    img.category = "Test";
    img.outputs = {{"image", PortType::Image, ""}};
    img.params = {{"size", ParamType::Int, 8, "", 1, 4096}};
    img.evaluate = [](EvalContext& c) {
      count(c.node_id());
      const int s = static_cast<int>(c.integer("size"));
      auto im = std::make_shared<ImageData>(s, s, 3);
      for (size_t i = 0; i < im->pixels.size(); ++i) im->pixels[i] = static_cast<float>(i % 7) / 7.0f;
      c.set_output("image", im);
    };
    reg.add(img);

    NodeDesc text;
    text.type = "test.text";
    text.category = "Test";
    text.inputs = {{"a", PortType::Number, "", true}};
    text.outputs = {{"path", PortType::String, ""}};
    text.params = {{"text", ParamType::String, "", ""}, {"path", ParamType::OutPath, "text.txt", ""}};
    text.side_effect = true;
    text.disk_cacheable = false;
    text.evaluate = [](EvalContext& c) {
      count(c.node_id());
      auto p = c.out_path("path");
      std::ofstream(p) << c.string("text");
      c.wrote_file(p);
      c.set_output("path", make_string(p.string()));
    };
    reg.add(text);
  });
}

}  // namespace lattice::test
