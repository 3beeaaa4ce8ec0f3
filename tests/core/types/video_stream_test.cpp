// VideoStream and the engine's streaming rules: a video source feeding one stream-accepting input streams
// (its work runs in the consumer, chunk by chunk) and is cached nowhere; two consumers, a consumer that
// does not accept streams, or asking for the source itself get a VideoData; errors name the producer.
#include "core/types/video_stream.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/document.h"
#include "core/engine.h"
#include "core/types/basic.h"
#include "tests/support/render_info.h"

namespace lattice {
namespace {

int g_runs = 0;  // producer runs

// test.video_source: `frames` grey frames of 4x2 (frame i has value i), in chunks of `chunk`; with
// `fail_at` >= 0 the producer throws when it reaches that frame; `deliver` makes fewer frames than announced.
NodeDesc source() {
  NodeDesc d;
  d.type = "test.video_source";
  d.outputs = {{"video", PortType::Video, ""}};
  d.params = {{"frames", ParamType::Int, 6, ""},
              {"chunk", ParamType::Int, 2, ""},
              {"fail_at", ParamType::Int, -1, ""},
              {"deliver", ParamType::Int, -1, "frames actually made (-1: all)"}};
  d.evaluate = [](EvalContext& ctx) {
    const int64_t frames = ctx.integer("frames"), chunk = ctx.integer("chunk"), fail_at = ctx.integer("fail_at");
    const int64_t made = ctx.integer("deliver") < 0 ? frames : ctx.integer("deliver");
    set_video_output(ctx, "video", {4, 2, 1, frames, 24, 1, nullptr}, [=](const VideoStream::Sink& sink, const VideoStream::Progress& progress) {
      ++g_runs;
      for (int64_t i = 0; i < made; i += chunk) {
        VideoStream::Chunk c;
        for (int64_t j = i; j < std::min(made, i + chunk); ++j) {
          if (j == fail_at) throw_eval("frame " + std::to_string(j) + " failed");
          auto img = std::make_shared<ImageData>(4, 2, 1);
          std::fill(img->pixels.begin(), img->pixels.end(), static_cast<float>(j));
          c.push_back(std::move(img));
        }
        sink(c);
        progress(static_cast<int>(i / chunk + 1), static_cast<int>((frames + chunk - 1) / chunk));
      }
    });
  };
  return d;
}

// test.video_sum: the sum of frame i's first pixel over all frames; takes streams (reports the largest chunk).
NodeDesc sum(const char* type, bool accepts) {
  NodeDesc d;
  d.type = type;
  d.inputs = {{"video", PortType::Video, "", false, accepts}};
  d.outputs = {{"sum", PortType::Number, ""}};
  d.evaluate = [](EvalContext& ctx) {
    double total = 0;
    if (const auto* s = dynamic_cast<const VideoStream*>(ctx.input("video").get())) {
      ctx.report("largest_chunk", s->run([&](const VideoStream::Chunk& c) {
        for (const ImagePtr& f : c) total += f->pixels[0];
      }));
    } else {
      for (const ImagePtr& f : ctx.input_as<VideoData>("video").frames) total += f->pixels[0];
    }
    ctx.set_output("sum", make_number(total));
  };
  return d;
}
NodeDesc streaming_sum() { return sum("test.video_sum", true); }
NodeDesc plain_sum() { return sum("test.video_sum_plain", false); }

// test.bad_stream: sets a stream whether or not it may.
NodeDesc bad_stream() {
  NodeDesc d;
  d.type = "test.bad_stream";
  d.outputs = {{"video", PortType::Video, ""}};
  d.evaluate = [](EvalContext& ctx) {
    ctx.set_output("video", std::make_shared<VideoStream>(VideoStream::Info{4, 2, 1, 1, 24, 1, nullptr}, ctx.who(), ctx.node_id(),
                                                          [](const VideoStream::Sink&, const VideoStream::Progress&) {}));
  };
  return d;
}
LATTICE_REGISTER_NODE(source);
LATTICE_REGISTER_NODE(streaming_sum);
LATTICE_REGISTER_NODE(plain_sum);
LATTICE_REGISTER_NODE(bad_stream);

double number(const Value& v) { return dynamic_cast<const NumberData&>(*v).value; }

Graph graph(const std::string& source_params, const std::string& extra = "") {
  return parse_graph(R"({"lattice": 1, "nodes": [
    {"id": "src", "type": "test.video_source", "params": )" + source_params + R"(},
    {"id": "sum", "type": "test.video_sum", "inputs": {"video": {"node": "src", "output": "video"}}})" + extra + "]}");
}


TEST(VideoStream, OneStreamingConsumerRunsTheProducerInsideItAndNothingStreamedIsCached) {
  MemoryCache mem;
  Engine e(&mem);
  const Graph g = graph("{}");
  g_runs = 0;
  RenderReport r;
  EXPECT_EQ(number(e.evaluate(g, "sum", "sum", {}, &r)), 0 + 1 + 2 + 3 + 4 + 5);
  EXPECT_EQ(g_runs, 1);
  EXPECT_TRUE(test::node_info(r, "src").value("streamed", false));
  EXPECT_EQ(test::node_info(r, "sum").value("largest_chunk", -1), 2);
  RenderOptions o;
  o.targets = {"sum"};
  for (const auto& [id, key] : e.keys(g, o)) {
    if (id == "src") {
      EXPECT_FALSE(mem.lookup(key)) << "a streamed value was cached";
    } else if (id == "sum") {
      EXPECT_TRUE(mem.lookup(key));
    }
  }
  // Asking for the source's video itself: a whole VideoData, produced again.
  const auto v = std::dynamic_pointer_cast<const VideoData>(e.evaluate(g, "src", "video", {}));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->frame_count(), 6);
  EXPECT_EQ(g_runs, 2);
}

TEST(VideoStream, TwoConsumersOrAPlainConsumerGetAWholeVideo) {
  MemoryCache mem;
  Engine e(&mem);
  const Graph two = graph("{}", R"(,
    {"id": "sum2", "type": "test.video_sum", "inputs": {"video": {"node": "src", "output": "video"}}})");
  RenderOptions o;
  o.targets = {"sum", "sum2"};
  g_runs = 0;
  const RenderReport r = e.render(two, o);
  EXPECT_EQ(g_runs, 1);  // produced once, cached, read by both
  EXPECT_FALSE(test::node_info(r, "src").value("streamed", false));
  EXPECT_FALSE(test::node_info(r, "sum").contains("largest_chunk"));

  const Graph plain = parse_graph(R"({"lattice": 1, "nodes": [
    {"id": "src", "type": "test.video_source", "params": {"frames": 3}},
    {"id": "sum", "type": "test.video_sum_plain", "inputs": {"video": {"node": "src", "output": "video"}}}]})");
  EXPECT_EQ(number(e.evaluate(plain, "sum", "sum", {})), 0 + 1 + 2);
}

TEST(VideoStream, ErrorsNameTheProducerAndStreamsOnlyWhereAllowed) {
  MemoryCache mem;
  Engine e(&mem);
  try {
    e.evaluate(graph(R"({"fail_at": 3})"), "sum", "sum", {});
    FAIL() << "the producer's failure was lost";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::Evaluation);
    EXPECT_NE(std::string(err.what()).find("node 'src' (test.video_source): frame 3 failed"), std::string::npos) << err.what();
    EXPECT_NE(std::find(err.node_ids().begin(), err.node_ids().end(), "src"), err.node_ids().end());
  }
  // A producer announcing more frames than it makes.
  try {
    e.evaluate(graph(R"({"frames": 5, "deliver": 4})"), "sum", "sum", {});
    FAIL() << "a short stream was accepted";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("streamed 4 of the announced 5 frames"), std::string::npos) << err.what();
  }
  // A stream set where a value is needed (the node is the target).
  const Graph bad = parse_graph(R"({"lattice": 1, "nodes": [{"id": "b", "type": "test.bad_stream"}]})");
  try {
    e.evaluate(bad, "b", "video", {});
    FAIL() << "a stream reached a caller asking for a value";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("streamed its output 'video' where a value is needed"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace lattice
