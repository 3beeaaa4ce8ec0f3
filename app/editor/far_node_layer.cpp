#include "app/editor/far_node_layer.h"

#include <QQuickWindow>
#include <QSGGeometryNode>
#include <QPainter>
#include <QSGImageNode>
#include <QSGRendererInterface>
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "app/editor/canvas_layer.h"

namespace lattice::editor {

namespace {

// Sizes in canvas units, larger than the near face's (NodeFace) where that one would be under a pixel
// at the zooms this layer is drawn at (below 0.4).
constexpr double kOutline = 2, kSelectedOutline = 6, kBadge = 16, kPort = 10, kHotPort = 16, kRing = 3,
                 kProgress = 8;
// Pixels per canvas unit of the software renderer's image of the layer: the largest zoom it is shown at
// (NodeCanvas.qml farZoom is 0.4), at most 4096 pixels a side.
constexpr double kSoftwarePixelsPerUnit = 0.4;

bool highlighted(const FarNodeStyle& s, const QString& node, const QVariantMap& port, bool input) {
  return !s.highlight_type.isEmpty() && node != s.highlight_except && input == s.highlight_inputs &&
         port.value("type").toString() == s.highlight_type;
}

QRectF square(QPointF centre, double side) { return {centre.x() - side / 2, centre.y() - side / 2, side, side}; }

}  // namespace

std::vector<FarRect> far_node_rects(const NodeListModel& model, const FarNodeStyle& style) {
  std::vector<FarRect> out;
  out.reserve(model.rows().size() * 8);
  for (const NodeRow& row : model.rows()) {
    const QRectF body = NodeListModel::bounds(row);
    const bool selected = model.selected(row.key);
    const double edge = selected ? kSelectedOutline : kOutline;
    const QColor outline = selected ? style.selection : (row.known ? style.outline : style.error);
    out.push_back({body.adjusted(-edge, -edge, edge, edge), outline});
    out.push_back({body, style.body});
    out.push_back({QRectF(body.left(), body.top(), body.width(), NodeLayout::kHeader), style.header});
    const QString state = model.state(row.key);
    out.push_back({square({body.right() - 8 - kBadge / 2, body.top() + NodeLayout::kHeader / 2}, kBadge),
                   style.states.value(state, style.states.value(QStringLiteral("idle"), style.idle))});
    for (bool output : {false, true}) {
      const QVariantList& ports = output ? row.outputs : row.inputs;
      for (int i = 0; i < ports.size(); ++i) {
        const QVariantMap port = ports[i].toMap();
        const QPointF c = NodeLayout::port(row.pos, i, output);
        if (highlighted(style, row.key, port, !output)) {
          out.push_back({square(c, kHotPort), style.ring});
          out.push_back({square(c, kHotPort - 2 * kRing), port.value("color").value<QColor>()});
        } else {
          out.push_back({square(c, kPort), port.value("color").value<QColor>()});
        }
      }
    }
    if (state == QStringLiteral("running")) {
      const double p = std::clamp(model.progress(row.key), 0.0, 1.0);
      if (p > 0)
        out.push_back({QRectF(body.left() + 6, body.bottom() - NodeLayout::kFooter + 2, (body.width() - 12) * p, kProgress),
                       style.states.value(state, style.selection)});
    }
  }
  return out;
}

ColoredMesh far_rect_mesh(const std::vector<FarRect>& rects) {
  ColoredMesh m;
  m.opaque = std::all_of(rects.begin(), rects.end(), [](const FarRect& r) { return r.color.alpha() == 255; });
  m.vertices.reserve(rects.size() * 4);
  m.indices.reserve(rects.size() * 6);
  const size_t n = rects.size();
  for (size_t k = 0; k < n; ++k) {
    // The opaque pass draws with a depth test that keeps the first of equal depths: a geometry node's
    // triangles all share one depth, so they go front to back. With blending, back to front.
    const FarRect& r = rects[m.opaque ? n - 1 - k : k];
    const auto x0 = static_cast<float>(r.rect.left()), x1 = static_cast<float>(r.rect.right()),
               y0 = static_cast<float>(r.rect.top()), y1 = static_cast<float>(r.rect.bottom());
    for (auto [x, y] : {std::pair{x0, y0}, {x1, y0}, {x0, y1}, {x1, y1}}) m.vertices.push_back(ColoredMesh::vertex(x, y, r.color));
    const auto q = static_cast<uint32_t>(4 * k);
    m.indices.insert(m.indices.end(), {q, q + 1, q + 2, q + 1, q + 3, q + 2});
  }
  return m;
}

QImage far_rect_image(const std::vector<FarRect>& rects, double pixels_per_unit, QRectF* bounds) {
  QRectF b;
  for (const FarRect& r : rects) b |= r.rect;
  *bounds = b;
  if (b.isEmpty()) return {};
  const double scale = std::min(pixels_per_unit, 4096 / std::max(b.width(), b.height()));
  QImage image(std::max(1, static_cast<int>(std::ceil(b.width() * scale))),
               std::max(1, static_cast<int>(std::ceil(b.height() * scale))), QImage::Format_ARGB32_Premultiplied);
  image.fill(Qt::transparent);
  QPainter p(&image);
  p.scale(scale, scale);
  p.translate(-b.topLeft());
  for (const FarRect& r : rects) p.fillRect(r.rect, r.color);
  return image;
}

FarNodeLayer::FarNodeLayer(QQuickItem* parent) : QQuickItem(parent) { setFlag(ItemHasContents, true); }

void FarNodeLayer::setModel(NodeListModel* m) {
  if (model_ == m) return;
  for (const auto& c : connections_) disconnect(c);
  connections_.clear();
  model_ = m;
  // Culling (the delegates' inView role) changes nothing drawn here.
  connections_ = canvas_layer_watch(m, this, [this] { changed(); }, [](int, int, const QList<int>& roles) {
    return roles == QList<int>{NodeListModel::InViewRole};
  });
  changed();
  emit modelChanged();
}

QVariantMap FarNodeLayer::stateColors() const {
  QVariantMap out;
  for (auto it = style_.states.begin(); it != style_.states.end(); ++it) out.insert(it.key(), it.value());
  return out;
}

void FarNodeLayer::setStateColors(const QVariantMap& colors) {
  QHash<QString, QColor> states;
  for (auto it = colors.begin(); it != colors.end(); ++it) states.insert(it.key(), it.value().value<QColor>());
  set(style_.states, states);
}

void FarNodeLayer::changed() {
  dirty_ = true;
  if (isVisible()) polish();
}

void FarNodeLayer::itemChange(ItemChange change, const ItemChangeData& value) {
  QQuickItem::itemChange(change, value);
  // Changes made while the canvas was zoomed in are listed when the layer shows again.
  if (change == ItemVisibleHasChanged && value.boolValue && dirty_) polish();
}

bool FarNodeLayer::software() const {
  // The scene graph's adaptation is chosen with the window; its renderer interface answers before the
  // scene graph is initialised, on any thread.
  return window() && window()->rendererInterface()->graphicsApi() == QSGRendererInterface::Software;
}

void FarNodeLayer::updatePolish() {
  if (!dirty_ || !isVisible()) return;
  rects_ = model_ ? far_node_rects(*model_, style_) : std::vector<FarRect>{};
  // Built here, on the UI thread, so that the render thread only copies (or wraps) them.
  if (software()) {
    mesh_ = {};
    // The software renderer draws no custom geometry, and a rectangle node per rectangle (thousands)
    // costs it tens of milliseconds a frame: one image of them all, which it scales.
    image_ = far_rect_image(rects_, kSoftwarePixelsPerUnit, &image_bounds_);
  } else {
    image_ = {};
    mesh_ = far_rect_mesh(rects_);
  }
  dirty_ = false;
  rects_new_ = true;
  ++builds_;
  emit built();
  update();
}

QSGNode* FarNodeLayer::updatePaintNode(QSGNode* old, UpdatePaintNodeData*) {
  if (rects_.empty()) {
    delete old;
    return nullptr;
  }
  if (old && !rects_new_) return old;
  rects_new_ = false;
  if (!image_.isNull()) {
    auto* node = static_cast<QSGImageNode*>(old);
    if (!node) {
      node = window()->createImageNode();
      node->setOwnsTexture(true);
      node->setFiltering(QSGTexture::Linear);
    }
    node->setTexture(window()->createTextureFromImage(image_));
    node->setRect(image_bounds_);
    return node;
  }
  return upload_colored_mesh(old, mesh_);
}

}  // namespace lattice::editor
