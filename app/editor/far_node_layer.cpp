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

FarNodeLayer::FarNodeLayer(QQuickItem* parent) : QQuickItem(parent) { setFlag(ItemHasContents, true); }

void FarNodeLayer::setModel(NodeListModel* m) {
  if (model_ == m) return;
  for (const auto& c : connections_) disconnect(c);
  connections_.clear();
  model_ = m;
  // Culling (the delegates' inView role) changes nothing drawn here.
  connections_ = canvas_layer_watch(m, this, [this] { changed(); }, {NodeListModel::InViewRole});
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

void FarNodeLayer::updatePolish() {
  if (!dirty_ || !isVisible()) return;
  rects_ = model_ ? far_node_rects(*model_, style_) : std::vector<FarRect>{};
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
  if (window()->rendererInterface()->graphicsApi() == QSGRendererInterface::Software) {
    // The software renderer draws no custom geometry, and a rectangle node per rectangle (thousands)
    // costs it tens of milliseconds a frame: one image of them all, which it scales.
    QRectF bounds;
    for (const FarRect& r : rects_) bounds |= r.rect;
    const double scale = std::min(kSoftwarePixelsPerUnit, 4096 / std::max(bounds.width(), bounds.height()));
    QImage image(std::max(1, static_cast<int>(std::ceil(bounds.width() * scale))),
                 std::max(1, static_cast<int>(std::ceil(bounds.height() * scale))), QImage::Format_ARGB32_Premultiplied);
    image.fill(Qt::transparent);
    {
      QPainter p(&image);
      p.scale(scale, scale);
      p.translate(-bounds.topLeft());
      for (const FarRect& r : rects_) p.fillRect(r.rect, r.color);
    }
    auto* node = static_cast<QSGImageNode*>(old);
    if (!node) {
      node = window()->createImageNode();
      node->setOwnsTexture(true);
      node->setFiltering(QSGTexture::Linear);
    }
    node->setTexture(window()->createTextureFromImage(image));
    node->setRect(bounds);
    return node;
  }
  auto* node = static_cast<QSGGeometryNode*>(old);
  if (!node) {
    node = new_colored_triangles_node();
  }
  const bool opaque = std::all_of(rects_.begin(), rects_.end(), [](const FarRect& r) { return r.color.alpha() == 255; });
  QSGGeometry* g = node->geometry();
  g->allocate(static_cast<int>(rects_.size() * 4), static_cast<int>(rects_.size() * 6));
  auto* v = g->vertexDataAsColoredPoint2D();
  auto* index = static_cast<uint32_t*>(g->indexData());
  const size_t n = rects_.size();
  for (size_t k = 0; k < n; ++k) {
    // The opaque pass draws with a depth test that keeps the first of equal depths: a geometry node's
    // triangles all share one depth, so they go front to back. With blending, back to front.
    const FarRect& r = rects_[opaque ? n - 1 - k : k];
    const double a = r.color.alphaF();
    const auto c = [&](int x) { return static_cast<uchar>(std::lround(x * a)); };
    const uchar red = c(r.color.red()), green = c(r.color.green()), blue = c(r.color.blue()),
                alpha = static_cast<uchar>(r.color.alpha());
    const auto x0 = static_cast<float>(r.rect.left()), x1 = static_cast<float>(r.rect.right()),
               y0 = static_cast<float>(r.rect.top()), y1 = static_cast<float>(r.rect.bottom());
    v[4 * k + 0].set(x0, y0, red, green, blue, alpha);
    v[4 * k + 1].set(x1, y0, red, green, blue, alpha);
    v[4 * k + 2].set(x0, y1, red, green, blue, alpha);
    v[4 * k + 3].set(x1, y1, red, green, blue, alpha);
    const auto q = static_cast<uint32_t>(4 * k);
    std::copy_n(std::initializer_list<uint32_t>{q, q + 1, q + 2, q + 1, q + 3, q + 2}.begin(), 6, index + 6 * k);
  }
  node->material()->setFlag(QSGMaterial::Blending, !opaque);
  node->markDirty(QSGNode::DirtyGeometry | QSGNode::DirtyMaterial);
  return node;
}

}  // namespace lattice::editor
