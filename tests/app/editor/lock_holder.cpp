// editor_lock_holder LOCKFILE: another editor process for document_lock_test and autosave_test. Takes the
// lock (app/editor/document_lock.h), prints "locked" or "refused: <why>", then holds it until its
// standard input closes (a clean exit, which releases the lock) or it is killed (a crash: the lock stays
// behind, stale).
#include <QCoreApplication>
#include <cstdio>

#include "app/editor/document_lock.h"

int main(int argc, char** argv) {
  QCoreApplication app(argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: editor_lock_holder LOCKFILE\n");
    return 2;
  }
  lattice::editor::DocumentLock lock;
  if (!lock.acquire(QString::fromLocal8Bit(argv[1]))) {
    std::printf("refused: %s\n", lock.error().toLocal8Bit().constData());
    return 1;
  }
  std::printf("locked\n");
  std::fflush(stdout);
  for (int c = std::getchar(); c != EOF; c = std::getchar()) {
  }
  return 0;
}
