#include "app/serve/job_queue.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "app/hooks.h"
#include "core/atomic_file.h"
#include "core/document.h"

namespace lattice::serve {

namespace fs = std::filesystem;

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

const char* state_name(JobState s) {
  switch (s) {
    case JobState::Queued: return "queued";
    case JobState::Running: return "running";
    case JobState::Done: return "done";
    case JobState::Failed: return "failed";
    case JobState::Cancelled: return "cancelled";
  }
  return "unknown";
}

std::string new_job_id() {
  // /dev/urandom rather than std::random_device so the id space is the system's, whatever the library does.
  unsigned char bytes[16];
  size_t got = 0;
  if (int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC); fd >= 0) {
    while (got < sizeof bytes) {
      const ssize_t n = ::read(fd, bytes + got, sizeof bytes - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
  }
  if (got < sizeof bytes) {
    std::random_device rd;
    for (auto& b : bytes) b = static_cast<unsigned char>(rd());
  }
  std::string id;
  char hex[3];
  for (unsigned char b : bytes) {
    std::snprintf(hex, sizeof hex, "%02x", b);
    id += hex;
  }
  return id;
}

// ---------------------------------------------------------------------------------------------- Job

Job::Job(std::string id, Graph graph, fs::path base_dir, fs::path dir, std::string origin)
    : id_(std::move(id)), graph_(std::move(graph)), base_dir_(std::move(base_dir)), dir_(std::move(dir)),
      origin_(std::move(origin)), created_(now_seconds()) {
  std::lock_guard lock(mutex_);
  emit("queued", Json::object());
}

JobState Job::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

bool Job::finished() const {
  const JobState s = state();
  return s == JobState::Done || s == JobState::Failed || s == JobState::Cancelled;
}

Json Job::record() const {
  Json outs = Json::array();
  for (const auto& o : outputs_) outs.push_back(o);
  Json j = {{"id", id_}, {"state", state_name(state_)}, {"origin", origin_}, {"created", created_},
            {"outputs", std::move(outs)}, {"nodes", nodes_}};
  if (started_ > 0) j["started"] = started_;
  if (ended_ > 0) j["ended"] = ended_;
  if (!error_.empty()) j["error"] = error_;
  return j;
}

Json Job::status() const {
  std::lock_guard lock(mutex_);
  double progress = 0;
  if (state_ == JobState::Done) {
    progress = 1;
  } else if (total_nodes_ > 0) {
    progress = std::min(1.0, (static_cast<double>(nodes_done_) + node_fraction_) / static_cast<double>(total_nodes_));
  }
  Json j = record();
  j["progress"] = progress;
  for (auto& o : j["outputs"]) o = Json{{"name", o}, {"url", "/v1/jobs/" + id_ + "/outputs/" + o.get<std::string>()}};
  return j;
}

void Job::emit(const std::string& type, Json data) {
  const bool final_event = type == "done" || type == "error";
  if (events_.size() >= kMaxEvents && !final_event) return;
  data["job"] = id_;
  data["state"] = state_name(state_);
  events_.push_back(JobEvent{events_.size(), type, std::move(data)});
  changed_.notify_all();
}

std::vector<JobEvent> Job::wait_events(uint64_t from, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return events_.size() > from; });
  if (from >= events_.size()) return {};
  return {events_.begin() + static_cast<std::ptrdiff_t>(from), events_.end()};
}

bool Job::cancel(const std::string& why) {
  std::lock_guard lock(mutex_);
  if (state_ != JobState::Queued && state_ != JobState::Running) return false;
  if (cancel_reason_.empty()) cancel_reason_ = why;
  cancel_.cancel();
  return true;
}

void Job::begin(size_t total_nodes) {
  std::lock_guard lock(mutex_);
  state_ = JobState::Running;
  started_ = now_seconds();
  total_nodes_ = total_nodes;
  emit("started", {{"nodes", total_nodes}});
}

void Job::end(JobState s, const std::string& error, const RenderReport* report) {
  std::lock_guard lock(mutex_);
  state_ = s;
  ended_ = now_seconds();
  error_ = error;
  if (report) {
    std::error_code ec;
    const fs::path root = fs::weakly_canonical(dir_, ec);
    for (const auto& f : report->outputs) {
      const fs::path rel = fs::weakly_canonical(f, ec).lexically_relative(root);
      outputs_.push_back(rel.empty() ? f : rel.generic_string());
    }
  }
  if (s == JobState::Done) {
    Json outs = Json::array();
    for (const auto& o : outputs_) outs.push_back(o);
    emit("done", {{"outputs", std::move(outs)}});
  } else {
    emit("error", {{"message", error_}});
  }
  write_record();
}

void Job::write_record() const {
  try {
    write_file_atomic(dir_ / "job.json", record().dump(2) + "\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lattice: warning: job %s: cannot write its record: %s\n", id_.c_str(), e.what());
  }
}

// ------------------------------------------------------------------------------------------ Observer

/// Turns the engine's callbacks into the job's progress and event log.
class JobObserver : public Observer {
 public:
  explicit JobObserver(Job& job) : job_(job) {}
  void node_started(const std::string& id, const std::string& type) override {
    std::lock_guard lock(job_.mutex_);
    job_.node_fraction_ = 0;
    job_.last_progress_event_ = -1;
    job_.emit("node_started", {{"node", id}, {"type", type}});
  }
  void node_progress(const std::string& id, double fraction, const std::string& message) override {
    std::lock_guard lock(job_.mutex_);
    job_.node_fraction_ = std::clamp(fraction, 0.0, 1.0);
    // At most one progress event per percent, so chatty nodes do not flood the log.
    if (job_.node_fraction_ - job_.last_progress_event_ < 0.01 && job_.node_fraction_ < 1) return;
    job_.last_progress_event_ = job_.node_fraction_;
    Json d = {{"node", id}, {"fraction", job_.node_fraction_}};
    if (!message.empty()) d["message"] = message;
    job_.emit("progress", std::move(d));
  }
  void node_step(const std::string& id, int step, int total) override {
    std::lock_guard lock(job_.mutex_);
    if (total > 0) job_.node_fraction_ = std::clamp(static_cast<double>(step) / total, 0.0, 1.0);
    job_.emit("step", {{"node", id}, {"step", step}, {"total", total}});
  }
  void node_finished(const std::string& id, const std::string& type, const std::string& status, double ms) override {
    std::lock_guard lock(job_.mutex_);
    ++job_.nodes_done_;
    job_.node_fraction_ = 0;
    job_.nodes_.push_back({{"id", id}, {"type", type}, {"status", status}, {"ms", ms}});
    job_.emit(status == "cached" ? "node_cached" : "node_finished", {{"node", id}, {"type", type}, {"ms", ms}});
  }
  void warning(const std::string& message) override {
    std::lock_guard lock(job_.mutex_);
    job_.emit("warning", {{"message", message}});
  }
  bool wants_previews() const override { return static_cast<bool>(app::hooks().write_preview_png); }
  /// The newest step preview replaces the job's preview.png (atomically, outside the job's lock), then a
  /// `preview` event says which node and step it shows. A preview that cannot be written is a warning.
  void node_preview(const std::string& id, int step, int total, std::shared_ptr<const ImageData> image) override {
    if (!image || !app::hooks().write_preview_png) return;
    try {
      app::hooks().write_preview_png(job_.dir_ / Job::kPreviewFile, *image);
    } catch (const std::exception& e) {
      warning(std::string("cannot write the step preview: ") + e.what());
      return;
    }
    std::lock_guard lock(job_.mutex_);
    job_.emit("preview", {{"node", id}, {"step", step}, {"total", total}, {"url", "/v1/jobs/" + job_.id_ + "/preview"}});
  }

 private:
  Job& job_;
};

// -------------------------------------------------------------------------------------------- Queue

JobQueue::JobQueue(JobQueueOptions o) : options_(std::move(o)), memory_(options_.cache_memory_mb << 20) {
  if (!options_.cache_dir.empty()) disk_ = std::make_unique<DiskCache>(options_.cache_dir);
  for (size_t i = 0; i < std::max<size_t>(1, options_.workers); ++i) workers_.emplace_back([this] { work(); });
}

JobQueue::~JobQueue() { shutdown(); }

std::shared_ptr<Job> JobQueue::submit(Graph g, const fs::path& base_dir, const std::string& origin) {
  std::unique_lock lock(mutex_);
  if (stopping_) throw ShuttingDown("the server is shutting down");
  if (queued_.size() >= options_.max_queued)
    throw QueueFull("the queue is full (" + std::to_string(options_.max_queued) + " jobs waiting); retry later");
  std::string id = new_job_id();
  while (jobs_.count(id)) id = new_job_id();
  const fs::path dir = options_.output_dir / id;
  std::error_code ec;
  if (!fs::create_directory(dir, ec) || ec)
    throw_invalid("cannot create the job folder " + dir.string() + (ec ? ": " + ec.message() : ": it exists"));
  save_graph_file(g, dir / "graph.lattice");
  auto job = std::make_shared<Job>(id, std::move(g), base_dir, dir, origin);
  {
    std::lock_guard jl(job->mutex_);
    job->write_record();
  }
  jobs_[id] = job;
  order_.push_back(id);
  queued_.push_back(job);
  forget_old();
  wake_.notify_one();
  return job;
}

std::shared_ptr<Job> JobQueue::find(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second;
}

bool JobQueue::cancel(const std::shared_ptr<Job>& job, const std::string& why) {
  bool was_queued = false;
  {
    std::lock_guard lock(mutex_);
    auto it = std::find(queued_.begin(), queued_.end(), job);
    if (it != queued_.end()) {
      queued_.erase(it);
      was_queued = true;
    }
  }
  if (!job->cancel(why)) return false;
  if (was_queued) job->end(JobState::Cancelled, "cancelled: " + why, nullptr);
  return true;
}

Json JobQueue::list() const {
  std::vector<std::shared_ptr<Job>> jobs;
  {
    std::lock_guard lock(mutex_);
    for (const auto& id : order_) jobs.push_back(jobs_.at(id));
  }
  Json a = Json::array();
  for (const auto& j : jobs) {
    Json s = j->status();
    s.erase("nodes");
    a.push_back(std::move(s));
  }
  return a;
}

void JobQueue::forget_old() {
  // Only ended jobs are forgotten; their folders and job.json stay.
  size_t ended = order_.size() - queued_.size() - running_.size();
  for (auto it = order_.begin(); ended > options_.max_kept && it != order_.end();) {
    if (jobs_.at(*it)->finished()) {
      jobs_.erase(*it);
      it = order_.erase(it);
      --ended;
    } else {
      ++it;
    }
  }
}

void JobQueue::shutdown(const std::string& why) {
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      for (auto& j : running_) j->cancel(why);
      for (auto& j : queued_) j->cancel(why);
    }
    workers.swap(workers_);
    wake_.notify_all();
  }
  for (auto& t : workers) t.join();
  // Jobs still queued never reached a worker: record them as cancelled here.
  std::deque<std::shared_ptr<Job>> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(queued_);
  }
  for (auto& j : left) j->end(JobState::Cancelled, "cancelled: " + why, nullptr);
}

void JobQueue::work() {
  Environment env;
  if (options_.setup_environment) options_.setup_environment(env);
  Engine engine(&memory_, disk_.get());
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queued_.empty(); });
      if (stopping_) return;
      job = queued_.front();
      queued_.pop_front();
      running_.push_back(job);
    }
    Job& j = *job;
    JobObserver observer(j);
    RenderOptions ro;
    ro.base_dir = j.base_dir_;
    ro.output_dir = j.dir_;
    ro.observer = &observer;
    ro.cancel = &j.cancel_;
    ro.env = &env;
    const Json document = graph_to_json(j.graph_);
    ro.document = &document;
    try {
      if (j.cancel_.cancelled()) throw Error(ErrorKind::Cancelled, "cancelled");
      j.begin(engine.keys(j.graph_, ro).size());
      const RenderReport report = engine.render(j.graph_, ro);
      j.end(JobState::Done, "", &report);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Cancelled) {
        std::string why;
        {
          std::lock_guard jl(j.mutex_);
          why = j.cancel_reason_.empty() ? "cancelled" : "cancelled: " + j.cancel_reason_;
        }
        j.end(JobState::Cancelled, why, nullptr);
      } else {
        j.end(JobState::Failed, e.what(), nullptr);
      }
    } catch (const std::bad_alloc&) {
      j.end(JobState::Failed, "out of host memory", nullptr);
    } catch (const std::exception& e) {
      j.end(JobState::Failed, e.what(), nullptr);
    }
    std::lock_guard lock(mutex_);
    running_.erase(std::find(running_.begin(), running_.end(), job));
    forget_old();
  }
}

}  // namespace lattice::serve
