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
// Canvas units around the software renderer's image of the rectangles (FarRectImage).
constexpr double kImageMargin = kSelectedOutline + kHotPort;
// Pixels per canvas unit of the software renderer's image of the layer: the largest zoom it is shown at
// (NodeCanvas.qml farZoom is 0.4), at most 4096 pixels a side.
constexpr double kSoftwarePixelsPerUnit = 0.4;

bool highlighted(const FarNodeStyle& s, const QString& node, const QVariantMap& port, bool input) {
  return !s.highlight_type.isEmpty() && node != s.highlight_except && input == s.highlight_inputs &&
         port.value("type").toString() == s.highlight_type;
}

QRectF square(QPointF centre, double side) { return {centre.x() - side / 2, centre.y() - side / 2, side, side}; }

}  // namespace

void far_node_rects(const NodeListModel& model, const NodeRow& row, const FarNodeStyle& style, std::vector<FarRect>& out) {
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
  // Always there, empty unless running, so that a node's rectangles keep their count (and place) through
  // state and progress changes.
  const double p = state == QStringLiteral("running") ? std::clamp(model.progress(row.key), 0.0, 1.0) : 0.0;
  out.push_back({QRectF(body.left() + 6, body.bottom() - NodeLayout::kFooter + 2, (body.width() - 12) * p, kProgress),
                 style.states.value(QStringLiteral("running"), style.selection)});
}

std::vector<FarRect> far_node_rects(const NodeListModel& model, const FarNodeStyle& style, std::vector<size_t>* starts) {
  std::vector<FarRect> out;
  out.reserve(model.rows().size() * 9);
  if (starts) starts->clear();
  for (const NodeRow& row : model.rows()) {
    if (starts) starts->push_back(out.size());
    far_node_rects(model, row, style, out);
  }
  if (starts) starts->push_back(out.size());
  return out;
}

ColoredMesh far_rect_mesh(const std::vector<FarRect>& rects) {
  ColoredMesh m;
  m.opaque = std::all_of(rects.begin(), rects.end(), [](const FarRect& r) { return r.color.alpha() == 255; });
  m.vertices.resize(rects.size() * 4);
  m.indices.reserve(rects.size() * 6);
  // The opaque pass draws with a depth test that keeps the first of equal depths: a geometry node's
  // triangles all share one depth, so they go front to back. With blending, back to front.
  far_rect_mesh_patch(m, rects.size(), 0, rects);
  const size_t n = rects.size();
  for (size_t k = 0; k < n; ++k) {
    const auto q = static_cast<uint32_t>(4 * k);
    m.indices.insert(m.indices.end(), {q, q + 1, q + 2, q + 1, q + 3, q + 2});
  }
  return m;
}

std::pair<size_t, size_t> far_rect_mesh_patch(ColoredMesh& mesh, size_t count, size_t first, const std::vector<FarRect>& rects) {
  size_t lo = SIZE_MAX, hi = 0;
  for (size_t k = 0; k < rects.size(); ++k) {
    // far_rect_mesh lists opaque rectangles in reverse.
    const size_t slot = mesh.opaque ? count - 1 - (first + k) : first + k;
    const QRectF& q = rects[k].rect;
    const auto x0 = static_cast<float>(q.left()), x1 = static_cast<float>(q.right()), y0 = static_cast<float>(q.top()),
               y1 = static_cast<float>(q.bottom());
    ColoredMesh::Vertex* v = mesh.vertices.data() + 4 * slot;
    v[0] = ColoredMesh::vertex(x0, y0, rects[k].color);
    v[1] = ColoredMesh::vertex(x1, y0, rects[k].color);
    v[2] = ColoredMesh::vertex(x0, y1, rects[k].color);
    v[3] = ColoredMesh::vertex(x1, y1, rects[k].color);
    lo = std::min(lo, 4 * slot);
    hi = std::max(hi, 4 * slot + 4);
  }
  return {lo, hi};
}

QImage far_rect_image(const std::vector<FarRect>& rects, double pixels_per_unit, QRectF* bounds) {
  QRectF b;
  for (const FarRect& r : rects) b |= r.rect;
  // Room for a selection outline or a port's ring at the edges, so that patching them in stays inside.
  if (!b.isEmpty()) b.adjust(-kImageMargin, -kImageMargin, kImageMargin, kImageMargin);
  *bounds = b;
  if (b.isEmpty()) return {};
  const double scale = std::min(pixels_per_unit, 4096 / std::max(b.width(), b.height()));
  QImage image(std::max(1, static_cast<int>(std::ceil(b.width() * scale))),
               std::max(1, static_cast<int>(std::ceil(b.height() * scale))), QImage::Format_ARGB32_Premultiplied);
  far_rect_paint(image, b, rects, image.rect());
  return image;
}

void far_rect_paint(QImage& image, const QRectF& bounds, const std::vector<FarRect>& rects, const QRect& pixels) {
  const QRect clip = pixels.intersected(image.rect());
  if (clip.isEmpty() || bounds.isEmpty()) return;
  const double scale = image.width() / bounds.width();
  QPainter p(&image);
  p.setClipRect(clip);
  p.setCompositionMode(QPainter::CompositionMode_Source);
  p.fillRect(clip, Qt::transparent);
  p.setCompositionMode(QPainter::CompositionMode_SourceOver);
  p.scale(scale, scale);
  p.translate(-bounds.topLeft());
  // The canvas rectangle of `clip`, a pixel larger: rectangles that may touch it.
  const QRectF area(bounds.topLeft() + QPointF(clip.topLeft() - QPoint(1, 1)) / scale,
                    QSizeF(clip.size() + QSize(2, 2)) / scale);
  for (const FarRect& r : rects)
    if (r.rect.intersects(area)) p.fillRect(r.rect, r.color);
}

FarNodeLayer::FarNodeLayer(QQuickItem* parent) : QQuickItem(parent) { setFlag(ItemHasContents, true); }

void FarNodeLayer::setModel(NodeListModel* m) {
  if (model_ == m) return;
  for (const auto& c : connections_) disconnect(c);
  connections_.clear();
  model_ = m;
  // Changes of a few rows are patched in place (updatePolish), unless a rebuild is due anyway.
  const auto rows_changed = [this](int first, int last) {
    if (dirty_) return true;
    if (last - first > 64 || pending_.size() > 256) return false;
    for (int row = first; row <= last; ++row) pending_.push_back(row);
    if (isVisible()) polish();
    return true;
  };
  connections_ = canvas_layer_watch(m, this, [this] { changed(); }, [rows_changed](int first, int last, const QList<int>& roles) {
    // Culling (the delegates' inView role) changes nothing drawn here, and states come by statesChanged
    // (dataChanged tells only the rows in view about them).
    const QList<int> ignored{NodeListModel::InViewRole, NodeListModel::StateRole, NodeListModel::ProgressRole,
                             NodeListModel::MessageRole};
    if (!roles.isEmpty() && std::all_of(roles.begin(), roles.end(), [&](int r) { return ignored.contains(r); })) return true;
    return rows_changed(first, last);
  });
  if (m)
    connections_ << connect(m, &NodeListModel::statesChanged, this, [this, rows_changed](int first, int last) {
      if (!rows_changed(first, last)) changed();
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
  if (change == ItemVisibleHasChanged && value.boolValue && (dirty_ || !pending_.empty())) polish();
}

bool FarNodeLayer::software() const {
  // The scene graph's adaptation is chosen with the window; its renderer interface answers before the
  // scene graph is initialised, on any thread.
  return window() && window()->rendererInterface()->graphicsApi() == QSGRendererInterface::Software;
}

void FarNodeLayer::updatePolish() {
  if (!isVisible()) return;
  if (!dirty_ && !pending_.empty() && !patch()) dirty_ = true;
  pending_.clear();
  if (!dirty_) return;
  rects_ = model_ ? far_node_rects(*model_, style_, &starts_) : std::vector<FarRect>{};
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
  patched_ = {};
  ++builds_;
  emit built();
  update();
}

bool FarNodeLayer::patch() {
  std::sort(pending_.begin(), pending_.end());
  pending_.erase(std::unique(pending_.begin(), pending_.end()), pending_.end());
  const auto& rows = model_->rows();
  if (starts_.size() != rows.size() + 1) return false;
  const bool on_image = !image_.isNull();
  const size_t n = rects_.size();
  std::vector<FarRect> fresh;
  QRectF repaint;  // canvas units of image_ to paint again
  size_t changed = 0;
  for (int row : pending_) {
    if (row < 0 || static_cast<size_t>(row) >= rows.size()) return false;
    fresh.clear();
    far_node_rects(*model_, rows[static_cast<size_t>(row)], style_, fresh);
    const size_t first = starts_[static_cast<size_t>(row)];
    if (fresh.size() != starts_[static_cast<size_t>(row) + 1] - first) return false;  // other ports: rebuild
    if (std::equal(fresh.begin(), fresh.end(), rects_.begin() + static_cast<std::ptrdiff_t>(first))) continue;
    for (size_t k = 0; k < fresh.size(); ++k) {
      FarRect& r = rects_[first + k];
      if (on_image) repaint |= r.rect | fresh[k].rect;
      else if ((fresh[k].color.alpha() == 255) != mesh_.opaque) return false;  // the other pass: rebuild
      r = fresh[k];
    }
    if (!on_image) {
      const auto [lo, hi] = far_rect_mesh_patch(mesh_, n, first, fresh);
      patched_.first = std::min(patched_.first, lo);
      patched_.last = std::max(patched_.last, hi);
    }
    ++changed;
  }
  if (on_image && !repaint.isEmpty()) {
    if (!image_bounds_.contains(repaint)) return false;  // moved out of the image: rebuild
    // Paint again what the nodes covered and cover, in whole pixels.
    const double scale = image_.width() / image_bounds_.width();
    far_rect_paint(image_, image_bounds_, rects_,
                   QRectF((repaint.topLeft() - image_bounds_.topLeft()) * scale, repaint.size() * scale)
                       .toAlignedRect()
                       .adjusted(-1, -1, 1, 1));
  }
  if (changed == 0) return true;
  patch_new_ = true;
  patches_ += static_cast<int>(changed);
  emit built();
  update();
  return true;
}

QSGNode* FarNodeLayer::updatePaintNode(QSGNode* old, UpdatePaintNodeData*) {
  if (rects_.empty()) {
    delete old;
    return nullptr;
  }
  if (old && !rects_new_ && !patch_new_) return old;
  if (old && !rects_new_ && !mesh_.vertices.empty() &&
      static_cast<size_t>(static_cast<QSGGeometryNode*>(old)->geometry()->vertexCount()) == mesh_.vertices.size()) {
    // Some nodes changed in place: copy only their vertices.
    auto* node = static_cast<QSGGeometryNode*>(old);
    const size_t first = std::min(patched_.first, mesh_.vertices.size()), last = std::min(patched_.last, mesh_.vertices.size());
    if (first < last) {
      std::copy(mesh_.vertices.begin() + static_cast<std::ptrdiff_t>(first), mesh_.vertices.begin() + static_cast<std::ptrdiff_t>(last),
                reinterpret_cast<ColoredMesh::Vertex*>(node->geometry()->vertexDataAsColoredPoint2D()) + first);
      node->markDirty(QSGNode::DirtyGeometry);
    }
    patch_new_ = false;
    patched_ = {};
    return node;
  }
  rects_new_ = false;
  patch_new_ = false;
  patched_ = {};
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
