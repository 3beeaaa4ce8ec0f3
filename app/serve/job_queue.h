#pragma once
/// The service's jobs: a bounded queue of graph renders run by worker threads over one shared result cache.
///
/// Life of a job: submit() gives it an id, creates OUTPUT_DIR/<id>/, writes graph.lattice and job.json there,
/// and queues it (state "queued"); a worker runs it ("running") with its own Engine and Environment, both
/// reused across that worker's jobs, over the MemoryCache (and DiskCache) shared by all workers, so a repeated
/// job's nodes come from the cache. It ends "done", "failed" or "cancelled", and job.json is rewritten with that
/// state, its outputs and its error: every accepted job ends in one of those three and says which, including
/// the queued and running jobs that shutdown() cancels.
///
/// Events: each job keeps an ordered log (queued, started, node_started, node_cached, node_finished, step,
/// progress, warning, then exactly one of done or error). wait_events() blocks until the log grows past a
/// position, which the Server-Sent Events stream uses. The log holds at most kMaxEvents entries; past that only
/// the final event is appended.
///
/// Threading: every public method may be called from any thread. Workers are the only evaluating threads.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/cache.h"
#include "core/engine.h"

namespace lattice::serve {

enum class JobState { Queued, Running, Done, Failed, Cancelled };
const char* state_name(JobState s);

struct JobEvent {
  uint64_t seq = 0;   ///< position in the job's log, from 0
  std::string type;   ///< queued, started, node_started, node_cached, node_finished, step, progress, warning, done, error
  Json data;          ///< always carries "job" and "state"
};

class Job {
 public:
  static constexpr size_t kMaxEvents = 10000;
  /// The newest step preview (8-bit PNG) in the job's folder, served by GET /v1/jobs/{id}/preview.
  static constexpr const char* kPreviewFile = "preview.png";

  Job(std::string id, Graph graph, std::filesystem::path base_dir, std::filesystem::path dir, std::string origin);

  const std::string& id() const { return id_; }
  const std::filesystem::path& dir() const { return dir_; }
  JobState state() const;
  bool finished() const;
  /// The job as GET /v1/jobs/{id} shows it: id, state, progress, times, outputs, error, nodes.
  Json status() const;
  /// Events from position `from` on; waits up to `timeout` for one if there is none yet.
  std::vector<JobEvent> wait_events(uint64_t from, std::chrono::milliseconds timeout) const;

 private:
  /// Sets the cancel flag (JobQueue::cancel decides what else happens). False if the job had ended.
  bool cancel(const std::string& why);
  friend class JobQueue;
  friend class JobObserver;
  void emit(const std::string& type, Json data);  // mutex held
  void begin(size_t total_nodes);
  void end(JobState s, const std::string& error, const RenderReport* report);
  Json record() const;        // mutex held: what job.json holds
  void write_record() const;  // mutex held

  const std::string id_;
  const Graph graph_;
  const std::filesystem::path base_dir_, dir_;
  const std::string origin_;  // "graph" or "template NAME"
  CancelToken cancel_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  JobState state_ = JobState::Queued;
  std::string cancel_reason_;
  double created_ = 0, started_ = 0, ended_ = 0;  // seconds since the epoch
  size_t total_nodes_ = 0, nodes_done_ = 0;
  double node_fraction_ = 0, last_progress_event_ = -1;
  std::vector<std::string> outputs_;  // relative to dir_
  std::string error_;
  Json nodes_ = Json::array();
  std::vector<JobEvent> events_;
};

struct JobQueueOptions {
  std::filesystem::path output_dir;  ///< jobs write into output_dir/<id>/
  size_t workers = 1;
  size_t max_queued = 64;      ///< submissions past this many waiting jobs are refused (HTTP 429)
  size_t max_kept = 1000;      ///< ended jobs remembered in memory (their folders stay on disk)
  size_t cache_memory_mb = 2048;
  std::filesystem::path cache_dir;  ///< empty = no disk cache
  /// Gives each worker its environment (the GPU device); may be empty.
  std::function<void(Environment&)> setup_environment;
};

/// Thrown by submit() when the queue is full (HTTP 429).
struct QueueFull : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// Thrown by submit() after shutdown() (HTTP 503).
struct ShuttingDown : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class JobQueue {
 public:
  explicit JobQueue(JobQueueOptions o);
  ~JobQueue();  ///< shutdown()
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  /// Queues a valid graph. base_dir: where its relative input paths resolve. Throws QueueFull, or
  /// ShuttingDown after shutdown(), or Error(InvalidInput) if the job's folder cannot be made.
  std::shared_ptr<Job> submit(Graph g, const std::filesystem::path& base_dir, const std::string& origin);
  std::shared_ptr<Job> find(const std::string& id) const;
  /// Cancels a job: a queued one ends at once, a running one at its node's next check point.
  /// False if it had already ended.
  bool cancel(const std::shared_ptr<Job>& job, const std::string& why);
  /// Every remembered job's status, oldest first.
  Json list() const;
  /// Cancels every queued and running job (recording them as cancelled with `why`), waits for the workers.
  /// Idempotent; submit() refuses afterwards.
  void shutdown(const std::string& why = "the server is shutting down");
  const std::filesystem::path& output_dir() const { return options_.output_dir; }

 private:
  void work();
  void forget_old();  // mutex held

  JobQueueOptions options_;
  MemoryCache memory_;
  std::unique_ptr<DiskCache> disk_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<std::shared_ptr<Job>> queued_;
  std::vector<std::shared_ptr<Job>> running_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;
  std::deque<std::string> order_;  // ids, oldest first
  std::vector<std::thread> workers_;
};

/// 32 lowercase hex digits from the system's random source.
std::string new_job_id();

}  // namespace lattice::serve
