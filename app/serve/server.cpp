#include "app/serve/server.h"

#include <fcntl.h>
#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <list>
#include <sstream>

#include "app/hooks.h"
#include "app/install_paths.h"
#include "app/param_override.h"
#include "app/serve/confine.h"
#include "app/serve/job_queue.h"
#include "app/serve/templates.h"
#include "core/document.h"

namespace lattice::serve {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void usage(const std::string& m) { throw Error(ErrorKind::Usage, m); }

size_t parse_count(const std::string& flag, const std::string& text, size_t min) {
  try {
    size_t used = 0;
    const unsigned long long v = std::stoull(text, &used);
    if (used != text.size() || v < min || text[0] == '-') throw std::invalid_argument(text);
    return static_cast<size_t>(v);
  } catch (const std::exception&) {
    usage(flag + " expects a whole number of at least " + std::to_string(min) + ", got '" + text + "'");
  }
}

/// Equal strings, in time that depends only on their lengths.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() != b.size() ? 1 : 0;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

/// Nesting depth of JSON text ([ and { outside strings); a cheap guard before parsing, since printing a deeply
/// nested document (graph.lattice keeps unknown keys) recurses.
size_t json_depth(const std::string& s) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

constexpr size_t kMaxJsonDepth = 64;

Json parse_body(const std::string& body) {
  if (body.empty()) usage("the request has no body; send JSON");
  if (json_depth(body) > kMaxJsonDepth) usage("the JSON body nests deeper than " + std::to_string(kMaxJsonDepth));
  try {
    return Json::parse(body);
  } catch (const Json::parse_error& e) {
    usage(std::string("the body is not valid JSON: ") + e.what());
  }
}

void send_json(httplib::Response& res, int status, const Json& j) {
  res.status = status;
  res.set_content(j.dump(2) + "\n", "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, {{"error", message}});
}

std::string mime_type(const fs::path& p) {
  const std::string e = p.extension().string();
  if (e == ".png") return "image/png";
  if (e == ".jpg" || e == ".jpeg") return "image/jpeg";
  if (e == ".exr") return "image/x-exr";
  if (e == ".mp4") return "video/mp4";
  if (e == ".webm") return "video/webm";
  if (e == ".json" || e == ".lattice") return "application/json";
  if (e == ".txt") return "text/plain";
  return "application/octet-stream";
}

/// Set on the thread that handles connections over the limit: they get 429 and nothing else.
thread_local bool t_over_limit = false;

/// httplib's connection pool, bounded: max_connections threads serve connections; a connection arriving while
/// all are busy goes to one overflow thread that answers 429 (read timeouts bound how long that takes).
class BoundedPool : public httplib::TaskQueue {
 public:
  explicit BoundedPool(size_t max_connections) : max_(max_connections) {
    for (size_t i = 0; i < max_; ++i) threads_.emplace_back([this] { serve(false); });
    threads_.emplace_back([this] { serve(true); });
  }
  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(mutex_);
      (busy_ + pending_.size() < max_ ? pending_ : overflow_).push_back(std::move(fn));
    }
    cond_.notify_all();
  }
  void shutdown() override {
    {
      std::lock_guard lock(mutex_);
      shutdown_ = true;
    }
    cond_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void serve(bool overflow) {
    t_over_limit = overflow;
    auto& list = overflow ? overflow_ : pending_;
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mutex_);
        cond_.wait(lock, [&] { return shutdown_ || !list.empty(); });
        if (list.empty()) return;  // shutting down, nothing left
        fn = std::move(list.front());
        list.pop_front();
        if (!overflow) ++busy_;
      }
      fn();
      if (!overflow) {
        std::lock_guard lock(mutex_);
        --busy_;
      }
    }
  }
  const size_t max_;
  std::mutex mutex_;
  std::condition_variable cond_;
  std::list<std::function<void()>> pending_, overflow_;
  size_t busy_ = 0;
  bool shutdown_ = false;
  std::vector<std::thread> threads_;
};

/// httplib's server with a longer listen queue: the library listens with a backlog of 5, and a burst of
/// connections past it is dropped or reset by the kernel before anything can answer 429.
class Listener : public httplib::Server {
 public:
  void widen_backlog(int n) {
    if (::listen(svr_sock_, n) != 0) std::fprintf(stderr, "lattice: warning: cannot widen the listen queue\n");
  }
};

}  // namespace

// ------------------------------------------------------------------------------------------- options

ServeOptions parse_serve_args(const std::vector<std::string>& args) {
  ServeOptions o;
  bool serve = false;
  auto value = [&](size_t& i) -> const std::string& {
    if (i + 1 >= args.size()) usage(args[i] + " needs a value");
    return args[++i];
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--serve") serve = true;
    else if (a == "--host") o.host = value(i);
    else if (a == "--port") {
      const size_t p = parse_count(a, value(i), 0);
      if (p > 65535) usage("--port expects 0 to 65535");
      o.port = static_cast<int>(p);
    } else if (a == "--token-file") o.token_file = value(i);
    else if (a == "--output-dir") o.output_dir = value(i);
    else if (a == "--templates") o.templates_dir = value(i);
    else if (a == "--input-dir") o.input_dir = value(i);
    else if (a == "--workers") o.workers = parse_count(a, value(i), 1);
    else if (a == "--max-queue") o.max_queued = parse_count(a, value(i), 1);
    else if (a == "--max-body") o.max_body_bytes = parse_count(a, value(i), 1024);
    else if (a == "--max-connections") o.max_connections = parse_count(a, value(i), 2);
    else if (a == "--cache-memory") o.cache_memory_mb = parse_count(a, value(i), 0);
    else if (a == "--cache-dir") o.cache_dir = value(i);
    else if (a == "--cors-origin") o.cors_origin = value(i);
    else if (a == "--quiet") o.log_requests = false;
    else usage("unknown argument '" + a + "' for --serve (see lattice --help)");
  }
  if (!serve) usage("parse_serve_args needs --serve");
  if (o.token_file.empty()) usage("--serve needs --token-file FILE (a file holding the bearer token clients send)");
  return o;
}

std::string read_token_file(const fs::path& file) {
  std::ifstream f(file, std::ios::binary);
  if (!f) usage("--token-file " + file.string() + ": cannot read it");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string t = ss.str();
  const auto first = t.find_first_not_of(" \t\r\n"), last = t.find_last_not_of(" \t\r\n");
  t = first == std::string::npos ? "" : t.substr(first, last - first + 1);
  if (t.size() < 16) usage("--token-file " + file.string() + ": the token must be at least 16 characters");
  if (t.find_first_of(" \t\r\n") != std::string::npos)
    usage("--token-file " + file.string() + ": the token must be one line without spaces");
  return t;
}

const char* serve_help() {
  return "  lattice --serve --token-file FILE [options]\n"
         "                                         serve the HTTP API (docs/service.md)\n"
         "      --host ADDR --port N               where to listen (default 127.0.0.1:8188; port 0 = any free)\n"
         "      --output-dir DIR                   jobs write into DIR/<job id>/ (default ./lattice-jobs)\n"
         "      --templates DIR                    prompt templates (default: the examples folder)\n"
         "      --input-dir DIR                    where submitted graphs' input paths resolve (default: templates)\n"
         "      --workers N --max-queue N          job worker threads (1), waiting jobs before 429 (64)\n"
         "      --max-body BYTES                   largest request body before 413 (8 MiB)\n"
         "      --max-connections N                concurrent connections before 429 (32)\n"
         "      --cache-memory MIB --cache-dir DIR result caches shared by all jobs\n"
         "      --cors-origin ORIGIN               let this web origin call the API from a browser\n"
         "      --quiet                            do not log requests\n";
}

// -------------------------------------------------------------------------------------------- server

struct Server::Impl {
  ServeOptions o;
  std::string token;
  TemplateLibrary templates;
  fs::path input_dir;
  std::unique_ptr<JobQueue> queue;
  Listener http;
  std::thread listener;
  std::atomic<bool> stopping{false};
  std::atomic<bool> listener_ended{false};
  std::once_flag stopped;

  Impl(ServeOptions options, std::string t) : o(std::move(options)), token(std::move(t)) {
    std::error_code ec;
    fs::create_directories(o.output_dir, ec);
    if (ec || !fs::is_directory(o.output_dir))
      throw_invalid("--output-dir " + o.output_dir.string() + ": cannot create it" + (ec ? ": " + ec.message() : ""));
    o.output_dir = fs::canonical(o.output_dir);
    if (o.templates_dir.empty()) o.templates_dir = app::examples_dir();
    std::vector<std::string> problems;
    templates.load(o.templates_dir, &problems);
    for (const auto& p : problems) std::fprintf(stderr, "lattice: warning: template skipped: %s\n", p.c_str());
    input_dir = fs::weakly_canonical(o.input_dir.empty() ? o.templates_dir : o.input_dir, ec);

    JobQueueOptions q;
    q.output_dir = o.output_dir;
    q.workers = o.workers;
    q.max_queued = o.max_queued;
    q.cache_memory_mb = o.cache_memory_mb;
    q.cache_dir = o.cache_dir;
    q.setup_environment = [](Environment& env) {
      if (app::hooks().setup_environment) app::hooks().setup_environment(env, false);
    };
    queue = std::make_unique<JobQueue>(std::move(q));
    routes();
  }

  /// Runs a handler, turning exceptions into JSON error answers.
  template <class F>
  httplib::Server::Handler guard(F fn) {
    return [fn](const httplib::Request& req, httplib::Response& res) {
      try {
        fn(req, res);
      } catch (const QueueFull& e) {
        send_error(res, 429, e.what());
      } catch (const ShuttingDown& e) {
        send_error(res, 503, e.what());
      } catch (const Error& e) {
        send_error(res, e.kind() == ErrorKind::Evaluation ? 500 : 400, e.what());
      } catch (const std::exception& e) {
        send_error(res, 500, e.what());
      }
    };
  }

  std::shared_ptr<Job> job_of(const httplib::Request& req, httplib::Response& res) {
    auto job = queue->find(req.matches[1].str());
    if (!job) send_error(res, 404, "no job with id '" + std::string(req.matches[1]) + "'");
    return job;
  }

  void accepted(httplib::Response& res, const std::shared_ptr<Job>& job) {
    const std::string url = "/v1/jobs/" + job->id();
    res.set_header("Location", url);
    send_json(res, 202, {{"id", job->id()}, {"state", state_name(job->state())}, {"url", url},
                         {"events", url + "/events"}});
  }

  void routes() {
    http.new_task_queue = [n = o.max_connections] { return new BoundedPool(n); };
    http.set_payload_max_length(o.max_body_bytes);
    http.set_read_timeout(10, 0);
    http.set_write_timeout(10, 0);
    http.set_keep_alive_timeout(5);
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!o.cors_origin.empty()) {
        res.set_header("Access-Control-Allow-Origin", o.cors_origin);
        // Preflight requests never carry credentials: answer them without the token check.
        if (req.method == "OPTIONS") {
          res.status = 204;
          res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE");
          res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID");
          res.set_header("Access-Control-Max-Age", "600");
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      if (t_over_limit) {
        send_error(res, 429, "too many concurrent connections (limit " + std::to_string(o.max_connections) + ")");
        res.set_header("Connection", "close");
        return httplib::Server::HandlerResponse::Handled;
      }
      const std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      const bool ok = auth.size() > prefix.size() && auth.compare(0, prefix.size(), prefix) == 0 &&
                      same_secret(auth.substr(prefix.size()), token);
      if (!ok) {
        res.set_header("WWW-Authenticate", "Bearer");
        send_error(res, 401, auth.empty() ? "missing Authorization: Bearer <token>" : "wrong token");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      std::string m = "HTTP error " + std::to_string(res.status);
      if (res.status == 404) m = "no such endpoint: " + req.method + " " + req.path;
      if (res.status == 413) m = "the request body is too large";
      send_error(res, res.status, m);
    });
    if (o.log_requests)
      http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
        std::printf("lattice: %s %s %d\n", req.method.c_str(), req.path.c_str(), res.status);
        std::fflush(stdout);
      });

    http.Get("/v1/nodes", guard([](const httplib::Request&, httplib::Response& res) {
               send_json(res, 200, NodeRegistry::instance().catalogue());
             }));
    http.Get("/v1/templates", guard([this](const httplib::Request&, httplib::Response& res) {
               send_json(res, 200, {{"templates", templates.describe()}});
             }));
    auto run_template = [this](const httplib::Request& req, httplib::Response& res, const Json& values) {
      const GraphTemplate* t = templates.find(req.matches[1].str());
      if (!t) return send_error(res, 404, "no template named '" + std::string(req.matches[1]) + "'");
      Graph g = t->instantiate(values);
      confine_graph(g, input_dir, false);
      accepted(res, queue->submit(std::move(g), t->file.parent_path(), "template " + t->name));
    };
    http.Get(R"(/v1/templates/([A-Za-z0-9_.-]+)/run)", guard([run_template](const httplib::Request& req,
                                                                            httplib::Response& res) {
               Json values = Json::object();
               for (const auto& [k, v] : req.params) {
                 if (values.contains(k)) usage("query field '" + k + "' is given twice");
                 values[k] = v;
               }
               run_template(req, res, values);
             }));
    http.Post(R"(/v1/templates/([A-Za-z0-9_.-]+)/run)",
              guard([run_template](const httplib::Request& req, httplib::Response& res) {
                run_template(req, res, parse_body(req.body));
              }));

    http.Post("/v1/jobs", guard([this](const httplib::Request& req, httplib::Response& res) {
                const Json body = parse_body(req.body);
                if (!body.is_object()) usage("the body must be a .lattice document or {\"graph\": ..., \"set\": ...}");
                Graph g;
                if (body.contains("graph")) {
                  for (const auto& [k, v] : body.items())
                    if (k != "graph" && k != "set") usage("unknown key '" + k + "' (expected \"graph\" and \"set\")");
                  g = graph_from_json(body["graph"], "the request's \"graph\"");
                  if (body.contains("set")) {
                    if (!body["set"].is_object()) usage("\"set\" must be an object of \"NODE_ID.PARAM\": value");
                    for (const auto& [target, value] : body["set"].items())
                      app::set_param_json(g, target, value, "set " + target);
                  }
                } else {
                  g = graph_from_json(body, "the request body");
                }
                require_valid(g);
                confine_graph(g, input_dir, true);
                accepted(res, queue->submit(std::move(g), input_dir, "graph"));
              }));
    http.Get("/v1/jobs", guard([this](const httplib::Request&, httplib::Response& res) {
               send_json(res, 200, {{"jobs", queue->list()}});
             }));
    http.Get(R"(/v1/jobs/([0-9a-f]{32}))", guard([this](const httplib::Request& req, httplib::Response& res) {
               if (auto job = job_of(req, res)) send_json(res, 200, job->status());
             }));
    http.Delete(R"(/v1/jobs/([0-9a-f]{32}))", guard([this](const httplib::Request& req, httplib::Response& res) {
                  auto job = job_of(req, res);
                  if (!job) return;
                  if (!queue->cancel(job, "cancelled by request")) {
                    Json s = job->status();
                    s["error"] = "the job has already ended (" + s["state"].get<std::string>() + ")";
                    return send_json(res, 409, s);
                  }
                  send_json(res, 202, job->status());
                }));
    http.Get(R"(/v1/jobs/([0-9a-f]{32})/outputs/(.+))",
             guard([this](const httplib::Request& req, httplib::Response& res) {
               auto job = job_of(req, res);
               if (!job) return;
               auto file = confined_file(job->dir(), req.matches[2].str());
               if (!file) return send_error(res, 404, "job " + job->id() + " has no file '" + std::string(req.matches[2]) + "'");
               send_file(res, *file);
             }));
    http.Get(R"(/v1/jobs/([0-9a-f]{32})/preview)", guard([this](const httplib::Request& req, httplib::Response& res) {
               auto job = job_of(req, res);
               if (!job) return;
               const fs::path file = job->dir() / Job::kPreviewFile;
               if (!fs::is_regular_file(file)) return send_error(res, 404, "job " + job->id() + " has no step preview yet");
               res.set_header("Cache-Control", "no-cache");
               send_file(res, file);
             }));
    http.Get(R"(/v1/jobs/([0-9a-f]{32})/events)", guard([this](const httplib::Request& req, httplib::Response& res) {
               auto job = job_of(req, res);
               if (!job) return;
               auto next = std::make_shared<uint64_t>(0);
               if (req.has_header("Last-Event-ID")) {
                 try {
                   *next = std::stoull(req.get_header_value("Last-Event-ID")) + 1;
                 } catch (const std::exception&) {
                   usage("Last-Event-ID must be an event number");
                 }
               }
               res.set_header("Cache-Control", "no-cache");
               res.set_chunked_content_provider("text/event-stream", [this, job, next](size_t, httplib::DataSink& sink) {
                 return stream_events(*job, *next, sink);
               });
             }));
  }

  /// Streams a file of the job's folder (already confined) with its MIME type. The file is opened now, so a
  /// preview replaced meanwhile (rename) is still read whole.
  static void send_file(httplib::Response& res, const fs::path& file) {
    auto in = std::make_shared<std::ifstream>(file, std::ios::binary | std::ios::ate);
    const std::streamoff end = *in ? static_cast<std::streamoff>(in->tellg()) : -1;
    if (!*in || end < 0) return send_error(res, 500, "cannot read " + file.filename().string());
    const auto size = static_cast<uint64_t>(end);
    res.set_content_provider(size, mime_type(file), [in](size_t offset, size_t length, httplib::DataSink& sink) {
      std::vector<char> buf(std::min<size_t>(length, 1 << 16));
      in->seekg(static_cast<std::streamoff>(offset));
      in->read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const auto n = static_cast<size_t>(in->gcount());
      return n > 0 && sink.write(buf.data(), n);
    });
  }

  /// One turn of an event stream: writes what is new (waiting up to a second), ends after the final event.
  bool stream_events(const Job& job, uint64_t& next, httplib::DataSink& sink) {
    const auto events = job.wait_events(next, std::chrono::milliseconds(1000));
    for (const auto& e : events) {
      const std::string text =
          "id: " + std::to_string(e.seq) + "\nevent: " + e.type + "\ndata: " + e.data.dump() + "\n\n";
      if (!sink.write(text.data(), text.size())) return false;
      next = e.seq + 1;
      if (e.type == "done" || e.type == "error") {
        sink.done();
        return true;
      }
    }
    if (events.empty()) {
      if (stopping) {
        sink.done();
        return true;
      }
      // A comment line: keeps proxies from timing out and notices clients that went away.
      static const std::string ping = ": ping\n\n";
      if (!sink.write(ping.data(), ping.size())) return false;
    }
    return true;
  }

  int start() {
    const int port = o.port == 0 ? http.bind_to_any_port(o.host) : (http.bind_to_port(o.host, o.port) ? o.port : -1);
    if (port < 0) usage("--serve: cannot listen on " + o.host + ":" + std::to_string(o.port));
    http.widen_backlog(static_cast<int>(std::max<size_t>(128, o.max_connections * 2)));
    listener = std::thread([this] {
      http.listen_after_bind();
      listener_ended = true;
    });
    // httplib's stop() does nothing until the listener runs, so a stop right after start would be lost.
    while (!http.is_running() && !listener_ended) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return port;
  }

  void stop() {
    std::call_once(stopped, [this] {
      // Jobs first, while the listener still runs, so event streams deliver the cancellations.
      queue->shutdown();
      stopping = true;
      http.stop();
      if (listener.joinable()) listener.join();
    });
  }
};

Server::Server(ServeOptions options, std::string token)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(token))) {}

Server::~Server() { stop(); }

int Server::start() { return impl_->start(); }

void Server::stop() { impl_->stop(); }

namespace {

// The stop signals reach the main thread through a pipe: a handler runs on whichever thread the kernel picks
// (libraries may have started threads before ours, with any signal mask), and write() is async-signal-safe.
int g_stop_pipe[2] = {-1, -1};
extern "C" void on_stop_signal(int sig) {
  const unsigned char b = static_cast<unsigned char>(sig);
  const ssize_t r = ::write(g_stop_pipe[1], &b, 1);
  (void)r;
}

}  // namespace

int run_serve(const std::vector<std::string>& args) {
  ServeOptions o = parse_serve_args(args);
  const std::string token = read_token_file(o.token_file);
  if (::pipe2(g_stop_pipe, O_CLOEXEC) != 0) throw_eval("cannot create the signal pipe");
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM}) {
    struct sigaction old {};
    sigaction(sig, nullptr, &old);
    // A shell starting us in the background ignores SIGINT on purpose; keep that.
    if (sig == SIGINT && old.sa_handler == SIG_IGN) continue;
    sigaction(sig, &sa, nullptr);
  }
  std::signal(SIGPIPE, SIG_IGN);  // a client or a log reader that went away is not a reason to die
  Server server(o, token);
  const int port = server.start();
  if (o.host != "127.0.0.1" && o.host != "::1" && o.host != "localhost")
    std::fprintf(stderr, "lattice: warning: listening on %s, beyond this machine: the token and the images travel "
                         "unencrypted unless a TLS proxy is in front\n", o.host.c_str());
  std::printf("lattice: serving on http://%s:%d (output folder %s)\n", o.host.c_str(), port,
              fs::absolute(o.output_dir).string().c_str());
  std::fflush(stdout);
  unsigned char sig = 0;
  while (::read(g_stop_pipe[0], &sig, 1) < 0 && errno == EINTR) {
  }
  std::printf("lattice: %s received; cancelling jobs and shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  std::fflush(stdout);
  server.stop();
  std::printf("lattice: stopped\n");
  return 0;
}

}  // namespace lattice::serve
