#pragma once
/// Errors in core/ are exceptions of one type, lattice::Error, whose kind maps one to one onto the
/// command line's exit codes (docs/architecture.md). The message is one line a user can act on: it names
/// the file, node id, parameter or tensor at fault and what was expected.

#include <stdexcept>
#include <string>
#include <vector>

namespace lattice {

enum class ErrorKind {
  Usage = 2,         ///< bad command line or bad --set; nothing was read
  InvalidInput = 3,  ///< invalid graph, malformed or unreadable input file
  Evaluation = 4,    ///< a node failed while running (including device loss and out of memory)
  Cancelled = 130,   ///< the caller cancelled the evaluation
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, std::vector<std::string> node_ids = {})
      : std::runtime_error(message), kind_(kind), node_ids_(std::move(node_ids)) {}
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return static_cast<int>(kind_); }
  /// Ids of the nodes involved (empty when the error is not about particular nodes).
  const std::vector<std::string>& node_ids() const { return node_ids_; }

 private:
  ErrorKind kind_;
  std::vector<std::string> node_ids_;
};

[[noreturn]] inline void throw_invalid(const std::string& msg, std::vector<std::string> ids = {}) {
  throw Error(ErrorKind::InvalidInput, msg, std::move(ids));
}
[[noreturn]] inline void throw_eval(const std::string& msg, std::vector<std::string> ids = {}) {
  throw Error(ErrorKind::Evaluation, msg, std::move(ids));
}

}  // namespace lattice
