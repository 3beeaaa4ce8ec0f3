#pragma once
// Expecting a refusal: what a bad input must give, a lattice::Error of the right kind whose message says what is
// wrong; and, for inputs the dry run can judge, the same refusal from the plan as from the run.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "core/engine.h"
#include "core/error.h"

namespace lattice::test {

/// Runs `f`, expecting it to throw an Error of `kind` whose message contains `words`.
inline void expect_refused(const std::function<void()>& f, ErrorKind kind, const std::string& words) {
  try {
    f();
    ADD_FAILURE() << "accepted; expected an error saying: " << words;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

/// Expects the dry run's plan of `g` (for node `node` alone) and the evaluation of its output `port` both to
/// refuse it as invalid input, saying `words`.
inline void expect_plan_and_run_refuse(Engine& e, const Graph& g, const RenderOptions& o, const std::string& node,
                                       const std::string& port, const std::string& words) {
  RenderOptions only = o;
  only.targets = {node};
  SCOPED_TRACE(node);
  expect_refused([&] { e.plan(g, only); }, ErrorKind::InvalidInput, words);
  expect_refused([&] { e.evaluate(g, node, port, o); }, ErrorKind::InvalidInput, words);
}

}  // namespace lattice::test
