#include "app/editor/node_face.h"

#include <QFontMetricsF>
#include <QGuiApplication>
#include <QPainter>
#include <QPainterPath>
#include <QQuickWindow>
#include <QElapsedTimer>
#include <QPointer>
#include <QSGImageNode>
#include <QSGRectangleNode>
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "app/editor/node_list_model.h"

namespace lattice::editor {

namespace {

double g_frame_budget_ms = 6;

/// The face painting of one window in the current frame: time spent and the faces deferred to the next
/// frame. The window's afterAnimating (GUI thread, after the polish phase, before sync) ends a frame.
class FrameBudget : public QObject {
 public:
  static FrameBudget* of(QQuickWindow* w) {
    static const QString name = QStringLiteral("lattice.NodeFace.FrameBudget");
    if (auto* b = dynamic_cast<FrameBudget*>(w->findChild<QObject*>(name, Qt::FindDirectChildrenOnly))) return b;
    return new FrameBudget(w, name);
  }
  /// Whether another face may paint in this frame (the first always may).
  bool allows() const { return painted_ == 0 || spent_ns_ < g_frame_budget_ms * 1e6; }
  void charge(qint64 ns) {
    spent_ns_ += ns;
    ++painted_;
    post_end();
  }
  void defer(NodeFace* f) {
    deferred_.emplace_back(f);
    post_end();
  }

 private:
  FrameBudget(QQuickWindow* w, const QString& name) : QObject(w) {
    setObjectName(name);
    connect(w, &QQuickWindow::afterAnimating, this, [this] { endFrame(); }, Qt::DirectConnection);
  }
  // A polish phase that no afterAnimating follows (the threaded render loop's grabWindow()) still ends: a
  // queued call runs after whichever polish phase charged the budget, never inside one.
  void post_end() {
    if (end_posted_) return;
    end_posted_ = true;
    QMetaObject::invokeMethod(this, [this] { endFrame(); }, Qt::QueuedConnection);
  }
  void endFrame() {
    end_posted_ = false;
    spent_ns_ = 0;
    painted_ = 0;
    // polish() schedules the next frame, whose polish phase paints them (within that frame's budget).
    for (auto& f : std::exchange(deferred_, {}))
      if (f) f->polish();
  }
  qint64 spent_ns_ = 0;
  int painted_ = 0;
  bool end_posted_ = false;
  std::vector<QPointer<NodeFace>> deferred_;
};

}  // namespace

void NodeFace::setFrameBudget(double ms) { g_frame_budget_ms = std::max(0.0, ms); }
double NodeFace::frameBudget() { return g_frame_budget_ms; }

NodeFace::NodeFace(QQuickItem* parent) : QQuickItem(parent) { setFlag(ItemHasContents, true); }

void NodeFace::setHighlightType(const QString& v) {
  if (highlight_type_ == v) return;
  const QString before = highlightKey();
  highlight_type_ = v;
  // Starting a wire changes this on every node; only those with a port of that type repaint.
  if (highlightKey() != before) invalidate();
  emit faceChanged();
}

void NodeFace::setHighlightInputs(bool v) {
  if (highlight_inputs_ == v) return;
  const QString before = highlightKey();
  highlight_inputs_ = v;
  if (highlightKey() != before) invalidate();
  emit faceChanged();
}

bool NodeFace::highlighted(const QVariantMap& p, bool input) const {
  return !highlight_type_.isEmpty() && input == highlight_inputs_ && p.value("type").toString() == highlight_type_;
}

QString NodeFace::highlightKey() const {
  QString key;
  for (const QVariant& p : inputs_) key += highlighted(p.toMap(), true) ? u'1' : u'0';
  for (const QVariant& p : outputs_) key += highlighted(p.toMap(), false) ? u'1' : u'0';
  return key;
}

void NodeFace::invalidate() {
  dirty_ = true;
  if (isVisible()) polish();
}

void NodeFace::geometryChange(const QRectF& next, const QRectF& prev) {
  QQuickItem::geometryChange(next, prev);
  if (next.size() != prev.size()) invalidate();
}

void NodeFace::itemChange(ItemChange change, const ItemChangeData& value) {
  QQuickItem::itemChange(change, value);
  // A face culled while its node changed is painted when it comes back into view.
  if (change == ItemVisibleHasChanged && value.boolValue && dirty_) polish();
}

void NodeFace::updatePolish() {
  if (!dirty_ || !isVisible() || !window() || width() <= 0 || height() <= 0) return;
  FrameBudget* budget = FrameBudget::of(window());
  if (!budget->allows()) {
    budget->defer(this);
    if (painted_detail_ == 0) update();  // show the placeholder meanwhile
    return;
  }
  QElapsedTimer t;
  t.start();
  // The format the scene graph uploads (RHI: RGBA8888 premultiplied), so that the upload converts nothing.
  const bool software = window()->rendererInterface()->graphicsApi() == QSGRendererInterface::Software;
  image_ = paintFace(detail_ * window()->effectiveDevicePixelRatio(),
                     software ? QImage::Format_ARGB32_Premultiplied : QImage::Format_RGBA8888_Premultiplied);
  painted_detail_ = detail_;
  dirty_ = false;
  budget->charge(t.nsecsElapsed());
  update();
  emit faceChanged();
}

QImage NodeFace::paintFace(qreal scale, QImage::Format format) const {
  const double w = width(), h = height(), m = kDotMargin;
  QImage img(static_cast<int>(std::ceil((w + 2 * m) * scale)), static_cast<int>(std::ceil(h * scale)), format);
  img.fill(Qt::transparent);
  if (img.isNull()) return img;
  ++paints_;
  QPainter p(&img);
  p.setRenderHint(QPainter::Antialiasing);
  p.setRenderHint(QPainter::TextAntialiasing);
  p.scale(scale, scale);
  p.translate(m, 0);

  // Body with its border; the header is clipped to the body's rounded outline.
  const double radius = 6, border = selected_ ? 2 : 1;
  const QRectF body(border / 2, border / 2, w - border, h - border);
  QPainterPath outline;
  outline.addRoundedRect(body, radius, radius);
  p.fillPath(outline, body_color_);
  p.save();
  p.setClipPath(outline);
  p.fillRect(QRectF(0, 0, w, NodeLayout::kHeader), header_color_);
  p.restore();
  p.setPen(QPen(selected_ ? selection_color_ : (known_ ? QColor(0x1a, 0x1a, 0x1a) : error_color_), border));
  p.setBrush(Qt::NoBrush);
  p.drawPath(outline);

  // Header: "id  type" (the type dimmed), elided before the state dot.
  QFont title = QGuiApplication::font();
  title.setBold(true);
  p.setFont(title);
  const QFontMetricsF tm(title);
  const double dot = 10, dot_x = w - 8 - dot;
  const double text_right = dot_x - 4;
  double x = 8;
  const QRectF header(0, 0, w, NodeLayout::kHeader);
  auto run = [&](const QString& text, const QColor& c) {
    if (x >= text_right) return;
    const QString shown = tm.elidedText(text, Qt::ElideRight, text_right - x);
    p.setPen(c);
    p.drawText(QRectF(x, header.top(), text_right - x, header.height()), Qt::AlignLeft | Qt::AlignVCenter, shown);
    x += tm.horizontalAdvance(shown);
  };
  run(node_id_ + QStringLiteral("  "), text_color_);
  run(type_name_, dim_color_);
  p.setPen(Qt::NoPen);
  p.setBrush(state_color_);
  p.drawEllipse(QRectF(dot_x, header.center().y() - dot / 2, dot, dot));

  // Port rows: label inside the edge, dot centred on it.
  QFont small = QGuiApplication::font();
  small.setPixelSize(11);
  p.setFont(small);
  const QFontMetricsF sm(small);
  auto ports = [&](const QVariantList& list, bool input) {
    for (int i = 0; i < list.size(); ++i) {
      const QVariantMap port = list[i].toMap();
      const QPointF c = NodeLayout::port({0, 0}, i, !input);
      const QRectF row(10, c.y() - NodeLayout::kPortRow / 2, w - 20, NodeLayout::kPortRow);
      const QString label = port.value("name").toString() + (port.value("optional").toBool() ? "?" : "");
      p.setPen(text_color_);
      p.drawText(row, (input ? Qt::AlignLeft : Qt::AlignRight) | Qt::AlignVCenter,
                 sm.elidedText(label, Qt::ElideRight, row.width()));
      const bool hot = highlighted(port, input);
      const double d = hot ? 14 : 10, ring = hot ? 2 : 1;
      p.setPen(QPen(hot ? text_color_ : QColor(0x11, 0x11, 0x11), ring));
      p.setBrush(port.value("color").value<QColor>());
      p.drawEllipse(QRectF(c.x() - d / 2 + ring / 2, c.y() - d / 2 + ring / 2, d - ring, d - ring));
    }
  };
  ports(inputs_, true);
  ports(outputs_, false);

  // Parameter summary, one elided line each.
  p.setPen(dim_color_);
  const double rows = static_cast<double>(std::max(inputs_.size(), outputs_.size()));
  double y = NodeLayout::kHeader + rows * NodeLayout::kPortRow + 2;
  for (const QString& line : summary_.split(u'\n', Qt::SkipEmptyParts)) {
    p.drawText(QRectF(8, y, w - 16, NodeLayout::kSummaryLine), Qt::AlignLeft | Qt::AlignVCenter,
               sm.elidedText(line, Qt::ElideRight, w - 16));
    y += NodeLayout::kSummaryLine;
  }

  // Status line in the footer, below the progress bar the canvas draws while the node runs.
  if (!status_.isEmpty()) {
    QFont tiny = QGuiApplication::font();
    tiny.setPixelSize(10);
    p.setFont(tiny);
    p.setPen(status_color_);
    p.drawText(QRectF(8, h - 22, w - 16, 22), Qt::AlignLeft | Qt::AlignVCenter,
               QFontMetricsF(tiny).elidedText(status_, Qt::ElideRight, w - 16));
  }
  return img;
}

QSGNode* NodeFace::updatePaintNode(QSGNode* old, UpdatePaintNodeData*) {
  if (!old && image_.isNull() && painted_detail_ > 0) {
    // The node holding the texture is gone (the item changed windows, the scene graph was rebuilt): the
    // image was not kept, so paint it again, from the UI thread (this one is the render thread).
    painted_detail_ = 0;
    QMetaObject::invokeMethod(this, [this] { invalidate(); }, Qt::QueuedConnection);
  }
  if (painted_detail_ == 0 && image_.isNull()) {
    // Never painted yet (waiting for the frame budget): the body's rectangle, so that the node is seen.
    auto* rect = placeholder_ ? static_cast<QSGRectangleNode*>(old) : nullptr;
    if (!rect) {
      delete old;
      rect = window()->createRectangleNode();
      placeholder_ = true;
    }
    rect->setRect(QRectF(0, 0, width(), height()));
    rect->setColor(body_color_);
    return rect;
  }
  auto* node = placeholder_ ? nullptr : static_cast<QSGImageNode*>(old);
  if (!node) {
    delete old;
    placeholder_ = false;
    node = window()->createImageNode();
    node->setOwnsTexture(true);
    node->setFiltering(QSGTexture::Linear);
  }
  if (!image_.isNull()) {
    // Small images go into the shared atlas, so that the faces of many nodes are drawn together; larger
    // ones, or those that find the atlas full, get a texture of their own. The texture releases the
    // image once uploaded, and so does the face: no host copy stays.
    node->setTexture(window()->createTextureFromImage(image_, QQuickWindow::TextureCanUseAtlas));
    image_ = QImage();
  }
  node->setRect(QRectF(-kDotMargin, 0, width() + 2 * kDotMargin, height()));
  return node;
}

}  // namespace lattice::editor
