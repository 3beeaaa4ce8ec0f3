#include "app/hooks.h"

namespace lattice::app {
Hooks& hooks() {
  static Hooks h;
  return h;
}
}  // namespace lattice::app
