#pragma once
// Test-only node types for the editor's viewer tests, registered once per test binary:
//   test.video   (params frames, fps_num, fps_den) -> out: video of `frames` 4x2 RGB frames; every
//                pixel of frame i has the value (i + 1) / 10 in every channel.
//   test.previewer (params steps, step_ms) -> out: image; a fake sampler: each of `steps` steps sleeps
//                `step_ms`, honours cancellation and sends a 2x2 RGB preview whose pixels are step / steps
//                (when previews are wanted); the output is 4x4 of 1.0.
namespace lattice::test {

void register_editor_test_nodes();

}  // namespace lattice::test
