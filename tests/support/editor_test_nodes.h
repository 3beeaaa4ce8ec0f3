#pragma once
// Test-only node types for the editor's viewer tests, registered once per test binary:
//   test.video   (params frames, fps_num, fps_den) -> out: video of `frames` 4x2 RGB frames; every
//                pixel of frame i has the value (i + 1) / 10 in every channel.
namespace lattice::test {

void register_editor_test_nodes();

}  // namespace lattice::test
