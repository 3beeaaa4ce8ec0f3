#pragma once
// Test-only node types with execution counters, registered once per test binary:
//   test.source  (param value: float) -> out: number
//   test.add     (a, b: number; param offset) -> out: number
//   test.fail    (a: number) -> out: number, always throws
//   test.slow    (a: number, params steps, step_ms) -> out: number, reports steps (sleeping step_ms each) and
//                honours cancellation
//   test.write   (a: number, param path: out path) -> writes the number to a file (side effect)
//   test.image   (param size) -> out: image
//   test.text    (a: number, optional; params text: string, path: out path) -> writes the text to a file
#include <atomic>
#include <map>
#include <string>

namespace lattice::test {

/// Executions per node id since the last reset().
std::map<std::string, int>& executions();
void reset();
void register_test_nodes();

}  // namespace lattice::test
