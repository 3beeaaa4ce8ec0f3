// lattice --serve: the real server on a loopback port, driven by a real HTTP client (httplib::Client).
// Most tests run the server in this process over the test nodes (tests/support/test_nodes.h); the last ones
// start the `lattice` binary, as users do, to check start-up, real nodes, and shutdown on SIGTERM.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "app/hooks.h"
#include "app/serve/server.h"
#include "core/atomic_file.h"
#include "core/node.h"
#include "tests/support/editor_test_nodes.h"
#include "tests/support/test_nodes.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kToken = "test-token-0123456789abcdef";

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// source (value) -> write (path): the smallest graph with a file output.
Json write_graph(double value, const std::string& path = "n.txt") {
  return Json::parse(R"({"lattice": 1, "nodes": [
      {"id": "src", "type": "test.source", "params": {"value": )" + std::to_string(value) + R"(}},
      {"id": "out", "type": "test.write", "params": {"path": ")" + path + R"("},
       "inputs": {"a": {"node": "src", "output": "out"}}}]})");
}

/// source -> slow (steps x step_ms) -> write: a job that runs as long as asked and can be cancelled.
Json slow_graph(int steps, int step_ms, double value = 1) {
  return Json::parse(R"({"lattice": 1, "nodes": [
      {"id": "src", "type": "test.source", "params": {"value": )" + std::to_string(value) + R"(}},
      {"id": "slow", "type": "test.slow", "params": {"steps": )" + std::to_string(steps) + R"(, "step_ms": )" +
                     std::to_string(step_ms) + R"(}, "inputs": {"a": {"node": "src", "output": "out"}}},
      {"id": "out", "type": "test.write", "params": {"path": "slow.txt"},
       "inputs": {"a": {"node": "slow", "output": "out"}}}]})");
}

/// A template over test.text: prompt -> text, steps -> slow.steps.
const char* kTemplate = R"({"lattice": 1,
  "template": {"description": "writes the prompt", "fields": {"prompt": "say.text", "steps": ["slow.steps"]}},
  "nodes": [
    {"id": "src", "type": "test.source"},
    {"id": "slow", "type": "test.slow", "params": {"steps": 2}, "inputs": {"a": {"node": "src", "output": "out"}}},
    {"id": "say", "type": "test.text", "params": {"text": "default words", "path": "prompt.txt"},
     "inputs": {"a": {"node": "slow", "output": "out"}}}]})";

class Serve : public ::testing::Test {
 protected:
  void SetUp() override {
    test::register_test_nodes();
    dir = fs::temp_directory_path() / ("lattice_serve_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir / "templates");
    std::ofstream(dir / "templates" / "hello.lattice") << kTemplate;
    std::ofstream(dir / "templates" / "broken.lattice") << R"({"lattice": 1, "template": {"fields": {"colour": "x.y"}},
        "nodes": []})";
    std::ofstream(dir / "token") << kToken << "\n";
  }
  void TearDown() override {
    server.reset();
    fs::remove_all(dir);
  }

  void start(const std::function<void(serve::ServeOptions&)>& tweak = {}) {
    serve::ServeOptions o;
    o.port = 0;
    o.token_file = dir / "token";
    o.output_dir = dir / "out";
    o.templates_dir = dir / "templates";
    o.max_body_bytes = 64 << 10;
    o.log_requests = false;
    if (tweak) tweak(o);
    server = std::make_unique<serve::Server>(o, serve::read_token_file(o.token_file));
    port = server->start();
    ASSERT_GT(port, 0);
  }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    return c;
  }
  httplib::Headers auth() const { return {{"Authorization", "Bearer " + kToken}}; }

  httplib::Result post(const std::string& path, const std::string& body) {
    return client().Post(path.c_str(), auth(), body, "application/json");
  }
  /// Submits a graph; returns the job id (fails the test unless 202).
  std::string submit(const Json& body) {
    auto r = post("/v1/jobs", body.dump());
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 202) << r->body;
    return Json::parse(r->body).value("id", "");
  }
  Json status(const std::string& id) {
    auto r = client().Get(("/v1/jobs/" + id).c_str(), auth());
    EXPECT_TRUE(r && r->status == 200);
    return r && r->status == 200 ? Json::parse(r->body) : Json::object();
  }
  /// Polls until the job is in `state` (or has ended), for up to 30 s.
  Json wait_for(const std::string& id, const std::string& state = "") {
    Json s;
    for (int i = 0; i < 3000; ++i) {
      s = status(id);
      const std::string st = s.value("state", "");
      if (st == state || (state.empty() && (st == "done" || st == "failed" || st == "cancelled"))) return s;
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "job " << id << " never reached '" << state << "': " << s.dump();
    return s;
  }
  Json job_record(const std::string& id) { return Json::parse(read_text(dir / "out" / id / "job.json")); }

  fs::path dir;
  std::unique_ptr<serve::Server> server;
  int port = 0;
};

TEST_F(Serve, EveryRequestNeedsTheToken) {
  start();
  auto c = client();
  auto none = c.Get("/v1/nodes");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_NE(none->body.find("missing Authorization"), std::string::npos);
  for (const std::string& bad : std::vector<std::string>{"Bearer wrong", "Bearer " + kToken.substr(0, kToken.size() - 1), "Bearer " + kToken + "x",
                                "Basic " + kToken, kToken}) {
    auto r = c.Get("/v1/nodes", {{"Authorization", bad}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << bad;
  }
  // Refused before the body is read: a submission without the token queues nothing.
  auto sub = c.Post("/v1/jobs", write_graph(1).dump(), "application/json");
  ASSERT_TRUE(sub);
  EXPECT_EQ(sub->status, 401);
  EXPECT_FALSE(fs::exists(dir / "out") && !fs::is_empty(dir / "out"));
}

TEST_F(Serve, CorsOriginAnswersPreflightAndMarksResponses) {
  start([](serve::ServeOptions& o) { o.cors_origin = "http://front.example"; });
  auto pre = client().Options("/v1/jobs", {{"Origin", "http://front.example"}, {"Access-Control-Request-Method", "POST"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "http://front.example");
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("Authorization"), std::string::npos);
  auto denied = client().Get("/v1/nodes");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  EXPECT_EQ(denied->get_header_value("Access-Control-Allow-Origin"), "http://front.example");
  auto ok = client().Get("/v1/nodes", auth());
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->get_header_value("Access-Control-Allow-Origin"), "http://front.example");
}

TEST_F(Serve, WithoutCorsThereAreNoCorsHeaders) {
  start();
  auto pre = client().Options("/v1/jobs");
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 401);
  EXPECT_FALSE(pre->has_header("Access-Control-Allow-Origin"));
}

TEST_F(Serve, NodeCatalogueIsTheListNodesJson) {
  start();
  auto r = client().Get("/v1/nodes", auth());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(Json::parse(r->body), NodeRegistry::instance().catalogue());
  EXPECT_NE(r->body.find("test.slow"), std::string::npos);
}

TEST_F(Serve, RunsAGraphWithSetsAndServesItsOutput) {
  start();
  const std::string id = submit({{"graph", write_graph(1)}, {"set", {{"src.value", 5}, {"out.path", "five.txt"}}}});
  ASSERT_EQ(id.size(), 32u);
  const Json s = wait_for(id);
  ASSERT_EQ(s["state"], "done") << s.dump();
  EXPECT_EQ(s["progress"], 1.0);
  ASSERT_EQ(s["outputs"].size(), 1u);
  EXPECT_EQ(s["outputs"][0]["name"], "five.txt");
  auto file = client().Get(s["outputs"][0]["url"].get<std::string>().c_str(), auth());
  ASSERT_TRUE(file);
  ASSERT_EQ(file->status, 200);
  EXPECT_EQ(file->body, "5");
  // The job's folder keeps what it ran and how it ended.
  EXPECT_EQ(job_record(id)["state"], "done");
  EXPECT_TRUE(fs::exists(dir / "out" / id / "graph.lattice"));
  EXPECT_EQ(read_text(dir / "out" / id / "five.txt"), "5");
  // A plain .lattice document is accepted too.
  const std::string plain = submit(write_graph(2));
  EXPECT_EQ(wait_for(plain)["state"], "done");
  auto list = client().Get("/v1/jobs", auth());
  ASSERT_TRUE(list);
  EXPECT_EQ(Json::parse(list->body)["jobs"].size(), 2u);
}

TEST_F(Serve, RepeatedJobsHitTheSharedCache) {
  start();
  test::reset();
  const std::string a = submit(slow_graph(3, 0, 7)), b = submit(slow_graph(3, 0, 7));
  EXPECT_EQ(wait_for(a)["state"], "done");
  const Json sb = wait_for(b);
  EXPECT_EQ(sb["state"], "done");
  EXPECT_EQ(test::executions()["src"], 1);
  EXPECT_EQ(test::executions()["slow"], 1);
  // The writer runs again: each job writes into its own folder.
  EXPECT_EQ(test::executions()["out"], 2);
  std::map<std::string, std::string> st;
  for (const auto& n : sb["nodes"]) st[n["id"]] = n["status"];
  EXPECT_EQ(st["slow"], "cached");
  EXPECT_EQ(st["out"], "executed");
}

TEST_F(Serve, BadRequestsGet400WithAMessage) {
  start();
  struct Case {
    std::string body, says;
  };
  const std::string deep = std::string(200, '[') + std::string(200, ']');
  for (const auto& c : std::vector<Case>{
           {"{not json", "not valid JSON"},
           {"", "no body"},
           {"[1, 2]", "must be a .lattice document"},
           {deep, "nests deeper"},
           {R"({"lattice": 1, "nodes": [{"id": "x", "type": "no.such"}]})", "no.such"},
           {Json{{"graph", write_graph(1)}, {"set", {{"src.nope", 1}}}}.dump(), "has no parameter 'nope'"},
           {Json{{"graph", write_graph(1)}, {"set", {{"ghost.value", 1}}}}.dump(), "no node with id 'ghost'"},
           {Json{{"graph", write_graph(1)}, {"set", {{"src.value", "abc"}}}}.dump(), "expected a number"},
           {Json{{"graph", write_graph(1)}, {"set", 3}}.dump(), "\"set\" must be an object"},
           {Json{{"graph", write_graph(1)}, {"frames", 3}}.dump(), "unknown key 'frames'"},
       }) {
    auto r = post("/v1/jobs", c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << c.body.substr(0, 80);
    const std::string message = Json::parse(r->body)["error"];
    EXPECT_NE(message.find(c.says), std::string::npos) << message;
  }
  auto unknown = client().Get("/v1/nothing", auth());
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_NE(Json::parse(unknown->body)["error"].get<std::string>().find("no such endpoint"), std::string::npos);
  auto no_job = client().Get(("/v1/jobs/" + std::string(32, 'a')).c_str(), auth());
  ASSERT_TRUE(no_job);
  EXPECT_EQ(no_job->status, 404);
}

TEST_F(Serve, HugeBodiesGet413) {
  start();
  Json g = write_graph(1);
  g["padding"] = std::string(100 << 10, 'x');  // over the 64 KiB limit set above
  auto r = post("/v1/jobs", g.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(fs::is_empty(dir / "out"));
}

TEST_F(Serve, OutputPathsCannotEscapeTheJobFolder) {
  start();
  for (const std::string bad : {"/tmp/lattice_escape.txt", "../escape.txt", "a/../../escape.txt"}) {
    auto r = post("/v1/jobs", Json{{"graph", write_graph(1)}, {"set", {{"out.path", bad}}}}.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_NE(r->body.find("output paths must be relative"), std::string::npos) << r->body;
  }
  EXPECT_TRUE(fs::is_empty(dir / "out"));
  EXPECT_FALSE(fs::exists(dir / "escape.txt"));
}

TEST_F(Serve, DownloadsAreConfinedToTheJobFolder) {
  start();
  std::ofstream(dir / "secret.txt") << "TOP-SECRET-CONTENT";
  const std::string id = submit(write_graph(3));
  ASSERT_EQ(wait_for(id)["state"], "done");
  fs::create_symlink(dir / "secret.txt", dir / "out" / id / "link.txt");
  const std::string base = "/v1/jobs/" + id + "/outputs/";
  for (const std::string bad : {"../../secret.txt", "..%2F..%2Fsecret.txt", "%2e%2e/%2e%2e/secret.txt", "link.txt",
                                "%2Fetc%2Fpasswd", "missing.txt", "."}) {
    auto r = client().Get((base + bad).c_str(), auth());
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 404) << bad;
    EXPECT_EQ(r->body.find("TOP-SECRET"), std::string::npos) << bad;
  }
  auto ok = client().Get((base + "n.txt").c_str(), auth());
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "3");
}

TEST_F(Serve, ManyConcurrentSubmissionsAllFinish) {
  start([](serve::ServeOptions& o) { o.workers = 2; });
  constexpr int kClients = 24;
  std::vector<std::string> ids(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i)
    threads.emplace_back([&, i] {
      auto r = client().Post("/v1/jobs", auth(), write_graph(100 + i).dump(), "application/json");
      if (r && r->status == 202) ids[i] = Json::parse(r->body)["id"];
      else ids[i] = r ? std::to_string(r->status) + " " + r->body : "no answer: " + httplib::to_string(r.error());
    });
  for (auto& t : threads) t.join();
  std::set<std::string> unique;
  for (int i = 0; i < kClients; ++i) {
    ASSERT_EQ(ids[i].size(), 32u) << "submission " << i << " was refused: " << ids[i];
    unique.insert(ids[i]);
    const Json s = wait_for(ids[i]);
    EXPECT_EQ(s["state"], "done");
    EXPECT_EQ(read_text(dir / "out" / ids[i] / "n.txt"), std::to_string(100 + i));
  }
  EXPECT_EQ(unique.size(), static_cast<size_t>(kClients));
}

TEST_F(Serve, AFullQueueGets429) {
  start([](serve::ServeOptions& o) { o.max_queued = 3; });
  const std::string running = submit(slow_graph(1000, 10));
  wait_for(running, "running");
  std::vector<std::string> queued;
  for (int i = 0; i < 3; ++i) queued.push_back(submit(write_graph(i)));
  auto r = post("/v1/jobs", write_graph(9).dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_NE(r->body.find("queue is full"), std::string::npos);
  auto del = client().Delete(("/v1/jobs/" + running).c_str(), auth());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 202);
  EXPECT_EQ(wait_for(running)["state"], "cancelled");
  for (const auto& id : queued) EXPECT_EQ(wait_for(id)["state"], "done");
}

TEST_F(Serve, ConnectionsPastTheLimitGet429) {
  start([](serve::ServeOptions& o) { o.max_connections = 2; });
  // Two idle connections hold both connection threads (until the read timeout).
  std::vector<int> held;
  for (int i = 0; i < 2; ++i) {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    held.push_back(s);
  }
  std::this_thread::sleep_for(200ms);
  auto r = client().Get("/v1/nodes", auth());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_NE(r->body.find("too many concurrent connections"), std::string::npos);
  for (int s : held) ::close(s);
  // The threads notice the closed connections at once; allow a loaded machine some time.
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    std::this_thread::sleep_for(50ms);
    auto after = client().Get("/v1/nodes", auth());
    status = after ? after->status : -1;
  }
  EXPECT_EQ(status, 200);
}

struct SseEvent {
  std::string type;
  Json data;
};

std::vector<SseEvent> parse_sse(const std::string& text) {
  std::vector<SseEvent> out;
  std::istringstream in(text);
  std::string line;
  SseEvent e;
  while (std::getline(in, line)) {
    if (line.rfind("event: ", 0) == 0) e.type = line.substr(7);
    else if (line.rfind("data: ", 0) == 0) e.data = Json::parse(line.substr(6));
    else if (line.empty() && !e.type.empty()) out.push_back(std::exchange(e, SseEvent{}));
  }
  return out;
}

TEST_F(Serve, EventStreamTellsTheWholeStory) {
  start();
  const std::string id = submit(slow_graph(3, 20, 11));
  std::string text;
  auto r = client().Get(("/v1/jobs/" + id + "/events").c_str(), auth(), [&](const char* d, size_t n) {
    text.append(d, n);
    return true;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  const auto events = parse_sse(text);
  std::vector<std::string> types;
  for (const auto& e : events) {
    types.push_back(e.type);
    EXPECT_EQ(e.data["job"], id);
  }
  const std::vector<std::string> expected = {"queued", "started", "node_started", "node_finished",  // src
                                             "node_started", "step", "step", "step", "node_finished",  // slow
                                             "node_started", "node_finished", "done"};               // out
  EXPECT_EQ(types, expected) << text;
  ASSERT_EQ(events.size(), expected.size());
  EXPECT_EQ(events[5].data["node"], "slow");
  EXPECT_EQ(events[7].data["step"], 3);
  EXPECT_EQ(events[7].data["total"], 3);
  EXPECT_EQ(events.back().data["state"], "done");
  EXPECT_EQ(events.back().data["outputs"][0], "slow.txt");
  // Reconnecting with Last-Event-ID resumes after that event; a second run shows the cache.
  std::string tail;
  client().Get(("/v1/jobs/" + id + "/events").c_str(), {{"Authorization", "Bearer " + kToken}, {"Last-Event-ID", "9"}},
               [&](const char* d, size_t n) {
                 tail.append(d, n);
                 return true;
               });
  ASSERT_EQ(parse_sse(tail).size(), 2u);
  const std::string again = submit(slow_graph(3, 20, 11));
  std::string text2;
  client().Get(("/v1/jobs/" + again + "/events").c_str(), auth(), [&](const char* d, size_t n) {
    text2.append(d, n);
    return true;
  });
  EXPECT_NE(text2.find("event: node_cached\ndata: {\"node\":\"slow\""), std::string::npos) << text2;
}

// Step previews: each one replaces the job's preview.png and a `preview` event names the node and step;
// GET /v1/jobs/{id}/preview serves the newest. The PNG writer is a hook the nodes library fills (this
// binary does not link it), so the test installs one that writes the first pixel as text; without the
// hook nothing asks nodes for previews and there is no preview to get.
TEST_F(Serve, StepPreviewsArriveAsEventsAndTheNewestIsServed) {
  test::register_editor_test_nodes();
  const Json graph = Json::parse(R"({"lattice": 1, "nodes": [
      {"id": "p", "type": "test.previewer", "params": {"steps": 3, "step_ms": 1}}]})");
  auto events_of = [&](const std::string& id) {
    std::string text;
    client().Get(("/v1/jobs/" + id + "/events").c_str(), auth(), [&](const char* d, size_t n) {
      text.append(d, n);
      return true;
    });
    return parse_sse(text);
  };
  start();
  const std::string without = submit(graph);
  for (const auto& e : events_of(without)) EXPECT_NE(e.type, "preview");
  auto none = client().Get(("/v1/jobs/" + without + "/preview").c_str(), auth());
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404) << none->body;

  const auto saved = app::hooks().write_preview_png;
  app::hooks().write_preview_png = [](const fs::path& p, const ImageData& img) {
    write_file_atomic(p, "first pixel " + std::to_string(img.pixels.at(0)));
  };
  Json other = graph;
  other["nodes"][0]["params"]["steps"] = 4;  // not cached: a new job that runs
  const std::string id = submit(other);
  std::vector<int> steps;
  for (const auto& e : events_of(id))
    if (e.type == "preview") {
      EXPECT_EQ(e.data["node"], "p");
      EXPECT_EQ(e.data["total"], 4);
      EXPECT_EQ(e.data["url"], "/v1/jobs/" + id + "/preview");
      steps.push_back(e.data["step"].get<int>());
    }
  app::hooks().write_preview_png = saved;
  EXPECT_EQ(steps, (std::vector<int>{1, 2, 3, 4}));
  auto r = client().Get(("/v1/jobs/" + id + "/preview").c_str(), auth());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(r->body, "first pixel " + std::to_string(1.0f));  // step 4 of 4
  EXPECT_EQ(client().Get(("/v1/jobs/" + id + "/preview").c_str())->status, 401);
}

TEST_F(Serve, ClientsLeavingAnEventStreamDoNotDisturbTheJob) {
  start();
  const std::string id = submit(slow_graph(20, 10));
  std::string seen;
  auto r = client().Get(("/v1/jobs/" + id + "/events").c_str(), auth(), [&](const char* d, size_t n) {
    seen.append(d, n);
    return seen.find("event: step") == std::string::npos;  // hang up at the first step
  });
  EXPECT_NE(seen.find("event: step"), std::string::npos);
  EXPECT_EQ(wait_for(id)["state"], "done");
  auto again = client().Get("/v1/nodes", auth());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST_F(Serve, CancelEndsRunningAndQueuedJobs) {
  start();
  const std::string running = submit(slow_graph(1000, 10));
  const std::string queued = submit(write_graph(4));
  wait_for(running, "running");
  // The event stream of the running job ends with its cancellation.
  std::string text;
  std::thread watcher([&] {
    client().Get(("/v1/jobs/" + running + "/events").c_str(), auth(), [&](const char* d, size_t n) {
      text.append(d, n);
      return true;
    });
  });
  auto q = client().Delete(("/v1/jobs/" + queued).c_str(), auth());
  ASSERT_TRUE(q);
  EXPECT_EQ(q->status, 202);
  EXPECT_EQ(status(queued)["state"], "cancelled");  // at once: it never reached a worker
  std::this_thread::sleep_for(100ms);
  auto d = client().Delete(("/v1/jobs/" + running).c_str(), auth());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 202);
  const Json s = wait_for(running);
  EXPECT_EQ(s["state"], "cancelled");
  EXPECT_NE(s["error"].get<std::string>().find("cancelled by request"), std::string::npos);
  EXPECT_LT(s["progress"].get<double>(), 1.0);
  watcher.join();
  const auto events = parse_sse(text);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "error");
  EXPECT_EQ(events.back().data["state"], "cancelled");
  EXPECT_EQ(job_record(running)["state"], "cancelled");
  EXPECT_EQ(job_record(queued)["state"], "cancelled");
  auto again = client().Delete(("/v1/jobs/" + running).c_str(), auth());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409);
}

TEST_F(Serve, FailedJobsSayWhy) {
  start();
  const std::string id = submit(Json::parse(R"({"lattice": 1, "nodes": [{"id": "boom", "type": "test.fail"}]})"));
  const Json s = wait_for(id);
  EXPECT_EQ(s["state"], "failed");
  EXPECT_NE(s["error"].get<std::string>().find("deliberate failure"), std::string::npos);
  EXPECT_EQ(job_record(id)["state"], "failed");
}

TEST_F(Serve, TemplatesRunFromQueryOrJson) {
  start();
  auto list = client().Get("/v1/templates", auth());
  ASSERT_TRUE(list);
  const Json t = Json::parse(list->body)["templates"];
  ASSERT_EQ(t.size(), 1u) << t.dump();  // broken.lattice is skipped
  EXPECT_EQ(t[0]["name"], "hello");
  EXPECT_EQ(t[0]["fields"]["prompt"]["targets"][0], "say.text");
  EXPECT_EQ(t[0]["fields"]["prompt"]["default"], "default words");
  EXPECT_EQ(t[0]["fields"]["steps"]["default"], 2);

  auto get = client().Get("/v1/templates/hello/run?prompt=a%20red%20fox&steps=3", auth());
  ASSERT_TRUE(get);
  ASSERT_EQ(get->status, 202) << get->body;
  const std::string a = Json::parse(get->body)["id"];
  ASSERT_EQ(wait_for(a)["state"], "done");
  EXPECT_EQ(read_text(dir / "out" / a / "prompt.txt"), "a red fox");
  Json ga = Json::parse(read_text(dir / "out" / a / "graph.lattice"));
  EXPECT_EQ(ga["nodes"][1]["params"]["steps"], 3);

  auto post_run = post("/v1/templates/hello/run", R"({"prompt": "a blue whale", "steps": 1})");
  ASSERT_TRUE(post_run);
  ASSERT_EQ(post_run->status, 202) << post_run->body;
  const std::string b = Json::parse(post_run->body)["id"];
  ASSERT_EQ(wait_for(b)["state"], "done");
  EXPECT_EQ(read_text(dir / "out" / b / "prompt.txt"), "a blue whale");

  struct Case {
    std::string path, body;
    int status;
    std::string says;
  };
  for (const auto& c : std::vector<Case>{
           {"/v1/templates/hello/run?colour=red", "", 400, "unknown field 'colour'"},
           {"/v1/templates/hello/run?num_frames=9", "", 400, "does not take 'num_frames'"},
           {"/v1/templates/hello/run?steps=many", "", 400, "expected an integer"},
           {"/v1/templates/hello/run?steps=5000", "", 400, "outside the range"},
           {"/v1/templates/hello/run?prompt=a&prompt=b", "", 400, "given twice"},
           {"/v1/templates/nope/run?prompt=a", "", 404, "no template named 'nope'"},
           {"/v1/templates/hello/run", R"({"prompt": 3})", 400, "expected a string"},
           {"/v1/templates/hello/run", R"({"width": 64})", 400, "does not take 'width'"},
           {"/v1/templates/hello/run", R"(["prompt"])", 400, "JSON object"},
       }) {
    auto r = c.body.empty() ? client().Get(c.path.c_str(), auth()) : post(c.path, c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.path << " " << c.body;
    EXPECT_NE(r->body.find(c.says), std::string::npos) << r->body;
  }
}

TEST_F(Serve, StopCancelsAndRecordsEveryUnfinishedJob) {
  start();
  const std::string running = submit(slow_graph(1000, 10));
  wait_for(running, "running");
  const std::string queued = submit(write_graph(8));
  server->stop();
  const Json r = job_record(running), q = job_record(queued);
  EXPECT_EQ(r["state"], "cancelled");
  EXPECT_NE(r["error"].get<std::string>().find("shutting down"), std::string::npos);
  EXPECT_EQ(q["state"], "cancelled");
  // Nothing listens any more.
  auto after = client().Get("/v1/nodes", auth());
  EXPECT_FALSE(after);
}

TEST_F(Serve, StopRightAfterStartReturns) {
  // httplib ignores a stop before its listener runs; start() waits for it, so this cannot hang.
  for (int i = 0; i < 20; ++i) {
    start();
    server->stop();
    server.reset();
  }
}

// ----------------------------------------------------------------------------------- the real binary

/// `lattice --serve ...` as a child process; reads its port from the first line it prints.
struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;
  int port = 0;
  std::string first_line;

  explicit Child(const std::vector<std::string>& args) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid = fork();
    if (pid == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      const std::string exe = std::string(LATTICE_BINARY_DIR) + "/lattice";
      argv.push_back(const_cast<char*>(exe.c_str()));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(exe.c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    out = fdopen(fds[0], "r");
    char line[512];
    if (fgets(line, sizeof line, out)) first_line = line;
    const auto at = first_line.rfind(':');
    if (first_line.find("serving on") != std::string::npos && at != std::string::npos)
      port = std::atoi(first_line.c_str() + at + 1);
  }
  /// Signals the child and returns its exit status and the rest of what it printed.
  std::pair<int, std::string> stop(int sig) {
    kill(pid, sig);
    std::string rest;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, out)) > 0) rest.append(buf, n);
    int status = 0;
    waitpid(pid, &status, 0);
    fclose(out);
    pid = -1;
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, rest};
  }
  ~Child() {
    if (pid > 0) stop(SIGKILL);
  }
};

TEST_F(Serve, TheBinaryServesRealNodesAndStopsOnSigterm) {
  fs::create_directories(dir / "inputs");
  std::ofstream(dir / "templates" / "sky.lattice") << R"({"lattice": 1,
    "template": {"description": "a gradient", "fields": {"width": "g.width", "height": "g.height"}},
    "nodes": [{"id": "g", "type": "image.gradient", "params": {"width": 8, "height": 8}},
              {"id": "save", "type": "image.save", "params": {"path": "sky.png"},
               "inputs": {"image": {"node": "g", "output": "image"}}}]})";
  Child child({"--serve", "--port", "0", "--token-file", (dir / "token").string(), "--output-dir",
               (dir / "out").string(), "--templates", (dir / "templates").string(), "--input-dir",
               (dir / "inputs").string(), "--quiet"});
  ASSERT_GT(child.port, 0) << child.first_line;
  port = child.port;

  auto unauth = client().Get("/v1/templates");
  ASSERT_TRUE(unauth);
  EXPECT_EQ(unauth->status, 401);

  auto run = client().Get("/v1/templates/sky/run?width=16&height=12", auth());
  ASSERT_TRUE(run);
  ASSERT_EQ(run->status, 202) << run->body;
  const std::string id = Json::parse(run->body)["id"];
  const Json s = wait_for(id);
  ASSERT_EQ(s["state"], "done") << s.dump();
  auto png = client().Get(("/v1/jobs/" + id + "/outputs/sky.png").c_str(), auth());
  ASSERT_TRUE(png);
  EXPECT_EQ(png->status, 200);
  EXPECT_EQ(png->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(png->body.substr(1, 3), "PNG");

  // Input paths must stay inside the input folder.
  for (const std::string bad : {"/etc/passwd", "../token"}) {
    auto r = post("/v1/jobs", Json::parse(R"({"lattice": 1, "nodes": [
        {"id": "l", "type": "image.load", "params": {"path": ")" + bad + R"("}},
        {"id": "s", "type": "image.save", "inputs": {"image": {"node": "l", "output": "image"}}}]})").dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_NE(r->body.find("input paths must be relative"), std::string::npos) << r->body;
  }

  // A burst of jobs, then SIGTERM: every one of them ends recorded as done or cancelled.
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto r = client().Get("/v1/templates/sky/run?width=1024&height=1024", auth());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 202);
    ids.push_back(Json::parse(r->body)["id"]);
  }
  const auto [code, printed] = child.stop(SIGTERM);
  EXPECT_EQ(code, 0) << printed;
  EXPECT_NE(printed.find("SIGTERM received"), std::string::npos) << printed;
  for (const auto& j : ids) {
    const std::string state = job_record(j)["state"];
    EXPECT_TRUE(state == "done" || state == "cancelled") << j << ": " << state;
  }
}

TEST_F(Serve, TheBinaryStopsOnSigint) {
  Child child({"--serve", "--port", "0", "--token-file", (dir / "token").string(), "--output-dir",
               (dir / "out").string(), "--templates", (dir / "templates").string()});
  ASSERT_GT(child.port, 0) << child.first_line;
  const auto [code, printed] = child.stop(SIGINT);
  EXPECT_EQ(code, 0) << printed;
  EXPECT_NE(printed.find("SIGINT received"), std::string::npos) << printed;
  EXPECT_NE(printed.find("stopped"), std::string::npos) << printed;
}

TEST_F(Serve, TheBinaryRefusesBadOptions) {
  Child no_token({"--serve", "--port", "0"});
  EXPECT_EQ(no_token.port, 0);
  EXPECT_EQ(no_token.stop(SIGTERM).first, 2);
  std::ofstream(dir / "short") << "abc";
  Child short_token({"--serve", "--port", "0", "--token-file", (dir / "short").string()});
  EXPECT_EQ(short_token.port, 0);
  EXPECT_EQ(short_token.stop(SIGTERM).first, 2);
}

}  // namespace
}  // namespace lattice
