#pragma once
/// `lattice --serve`: the HTTP API over the render engine (docs/service.md is the reference).
///
/// Server owns the HTTP listener (cpp-httplib), the job queue and the templates. Every request must carry
/// `Authorization: Bearer <token>` (compared in constant time, else 401). Limits: request bodies over
/// max_body_bytes get 413, submissions past max_queued waiting jobs 429, connections past max_connections
/// 429. Jobs write into output_dir/<job id>/ only (app/serve/confine.h).
///
/// Threading: start() returns once the socket is bound; requests are served on a bounded pool of threads;
/// stop() may be called from any thread once, and blocks until the workers and the listener have ended.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace lattice::serve {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8188;  ///< 0 = any free port (start() returns it)
  std::filesystem::path token_file;
  std::filesystem::path output_dir = "lattice-jobs";
  std::filesystem::path templates_dir;  ///< empty = the examples folder
  std::filesystem::path input_dir;      ///< where submitted graphs' input paths resolve; empty = templates_dir
  size_t workers = 1;
  size_t max_queued = 64;
  size_t max_body_bytes = size_t{8} << 20;
  size_t max_connections = 32;
  size_t cache_memory_mb = 2048;
  std::filesystem::path cache_dir;
  std::string cors_origin;  ///< empty = no CORS headers; else the one web origin allowed to call the API
  bool log_requests = true;
};

/// Parses the `--serve` command line (every argument, including --serve). Throws Error(Usage).
ServeOptions parse_serve_args(const std::vector<std::string>& args);

/// The token in `file`: its content without surrounding white space. Throws Error(Usage) if the file cannot
/// be read or the token is shorter than 16 characters.
std::string read_token_file(const std::filesystem::path& file);

class Server {
 public:
  /// Creates the output folder, loads the templates (printing any that are broken) and starts the job workers.
  /// Throws Error(Usage) or Error(InvalidInput) for bad options.
  Server(ServeOptions options, std::string token);
  ~Server();  ///< stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and starts serving; returns the bound port. Throws Error(Usage) if the address cannot be bound.
  int start();
  /// Cancels queued and running jobs (each is recorded as cancelled), lets event streams deliver that, then
  /// stops listening. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// `lattice --serve ...`: runs until SIGINT or SIGTERM, then shuts down gracefully. Returns the exit code.
int run_serve(const std::vector<std::string>& args);

/// Lines for `lattice --help`.
const char* serve_help();

}  // namespace lattice::serve
