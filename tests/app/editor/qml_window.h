#pragma once
// The real editor window (Main.qml) in a test, driven by real mouse and key events (QTest) on the
// offscreen platform: finding items by objectName or text across the visual tree (popups included),
// clicking them, and waiting for QML state without QTest's own failure reporting (GoogleTest asserts).
#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickWindow>
#include <QtTest/QTest>
#include <functional>
#include <memory>

#include "app/editor/editor_main.h"
#include "app/editor/graph_document.h"
#include "tests/app/editor/qt_test_app.h"

namespace lattice::editor::test {

/// Processes events until `done` holds or `ms` pass; returns whether it held.
inline bool wait_until(const std::function<bool()>& done, int ms = 5000) {
  QDeadlineTimer until(ms);
  while (!done()) {
    if (until.hasExpired()) return false;
    QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    QTest::qWait(10);
  }
  return true;
}

/// Every item under `root` (depth first) for which `match` holds.
inline void collect_items(QQuickItem* root, const std::function<bool(QQuickItem*)>& match, QList<QQuickItem*>& out) {
  if (!root) return;
  if (match(root)) out << root;
  for (QQuickItem* c : root->childItems()) collect_items(c, match, out);
}

class EditorWindow {
 public:
  /// Loads Main.qml opening `file` ("" for untitled) and waits until the window is exposed.
  bool load(const QString& file) {
    qt_app();
    engine_ = std::make_unique<QQmlApplicationEngine>();
    if (!load_editor(*engine_, file)) return false;
    window = qobject_cast<QQuickWindow*>(engine_->rootObjects().first());
    if (!window) return false;
    doc = window->property("document").value<GraphDocument*>();
    window->requestActivate();
    return doc && QTest::qWaitForWindowExposed(window);
  }
  ~EditorWindow() { close(); }
  void close() {
    if (doc) {
      doc->evaluator()->cancel();
      doc->evaluator()->waitForIdle(10000);
    }
    doc = nullptr;
    window = nullptr;
    engine_.reset();
  }

  /// Visible items whose objectName is `name`, in the window and its open popups.
  QList<QQuickItem*> named(const QString& name) const {
    QList<QQuickItem*> out;
    collect_items(window->contentItem(), [&](QQuickItem* i) { return i->objectName() == name && i->isVisible(); }, out);
    return out;
  }
  QQuickItem* item(const QString& name) const {
    const auto l = named(name);
    return l.isEmpty() ? nullptr : l.first();
  }
  /// The first visible item whose `text` property is `text` (menu entries, buttons, list entries).
  QQuickItem* with_text(const QString& text) const {
    QList<QQuickItem*> out;
    collect_items(window->contentItem(),
                  [&](QQuickItem* i) { return i->isVisible() && i->property("text").toString() == text; }, out);
    return out.isEmpty() ? nullptr : out.first();
  }
  /// Window coordinates of a point of `item`, given as fractions of its size.
  QPoint at(QQuickItem* item, qreal fx = 0.5, qreal fy = 0.5) const {
    return item->mapToScene(QPointF(item->width() * fx, item->height() * fy)).toPoint();
  }
  void click(QQuickItem* item, qreal fx = 0.5, qreal fy = 0.5) {
    QTest::mouseClick(window, Qt::LeftButton, {}, at(item, fx, fy));
  }
  /// The displayed colour at window point `p` (after rendering).
  QColor pixel(QPoint p) const {
    const QImage img = window->grabWindow();
    const qreal dpr = window->devicePixelRatio();
    return img.pixelColor(static_cast<int>(p.x() * dpr), static_cast<int>(p.y() * dpr));
  }

  QQuickWindow* window = nullptr;
  GraphDocument* doc = nullptr;

 private:
  std::unique_ptr<QQmlApplicationEngine> engine_;
};

}  // namespace lattice::editor::test
