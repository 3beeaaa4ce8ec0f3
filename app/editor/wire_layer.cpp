#include "app/editor/wire_layer.h"

#include <QSGGeometryNode>
#include <algorithm>
#include <cmath>

#include "app/editor/canvas_layer.h"

namespace lattice::editor {

std::vector<QPointF> wire_curve(QPointF from, QPointF to, double bend, bool coarse) {
  const QPointF c1 = from + QPointF(bend, 0), c2 = to - QPointF(bend, 0);
  // About one segment per 12 canvas units of the control polygon: smooth at zoom 4, few vertices. Coarse
  // (zoomed out below 0.4): one per 48 units, under 20 pixels, at least 4.
  const double reach = QLineF(from, c1).length() + QLineF(c1, c2).length() + QLineF(c2, to).length();
  const int segments = coarse ? std::clamp(static_cast<int>(reach / 48), 4, 16) : std::clamp(static_cast<int>(reach / 12), 8, 64);
  std::vector<QPointF> pts;
  pts.reserve(static_cast<size_t>(segments) + 1);
  for (int i = 0; i <= segments; ++i) {
    const double t = static_cast<double>(i) / segments, u = 1 - t;
    pts.push_back(u * u * u * from + 3 * u * u * t * c1 + 3 * u * t * t * c2 + t * t * t * to);
  }
  return pts;
}

WireMesh wire_mesh(const std::vector<EdgeRow>& rows, double width, bool coarse) {
  WireMesh m;
  const double half = width / 2;
  for (const EdgeRow& r : rows) {
    const QColor c = r.color.isValid() ? r.color : QColor(Qt::gray);
    m.opaque = m.opaque && c.alpha() == 255;
    const WireMesh::Vertex proto = WireMesh::vertex(0, 0, c);
    const std::vector<QPointF> pts = wire_curve(r.from, r.to, EdgeListModel::bend(r), coarse);
    const auto first = static_cast<uint32_t>(m.vertices.size());
    for (size_t i = 0; i < pts.size(); ++i) {
      // Offset each point along the normal of the chord through its neighbours (a mitre-less join).
      const QPointF d = pts[std::min(i + 1, pts.size() - 1)] - pts[i == 0 ? 0 : i - 1];
      const double len = std::hypot(d.x(), d.y());
      const QPointF n = len > 0 ? QPointF(-d.y() / len, d.x() / len) * half : QPointF(0, half);
      for (const QPointF& p : {pts[i] + n, pts[i] - n}) {
        WireMesh::Vertex v = proto;
        v.x = static_cast<float>(p.x());
        v.y = static_cast<float>(p.y());
        m.vertices.push_back(v);
      }
      if (i == 0) continue;
      const uint32_t k = first + 2 * static_cast<uint32_t>(i);
      m.indices.insert(m.indices.end(), {k - 2, k - 1, k, k - 1, k + 1, k});
    }
  }
  return m;
}

WireLayer::WireLayer(QQuickItem* parent) : QQuickItem(parent) { setFlag(ItemHasContents, true); }

void WireLayer::setModel(EdgeListModel* m) {
  if (model_ == m) return;
  for (const auto& c : connections_) disconnect(c);
  connections_.clear();
  model_ = m;
  connections_ = canvas_layer_watch(m, this, [this] { rowsChanged(); });
  rowsChanged();
  emit modelChanged();
}

void WireLayer::setLineWidth(qreal w) {
  if (line_width_ == w) return;
  line_width_ = w;
  rowsChanged();
  emit modelChanged();
}

void WireLayer::setCoarse(bool on) {
  if (coarse_ == on) return;
  coarse_ = on;
  // The other mesh is kept: zooming back across farZoom builds nothing unless the wires changed.
  mesh_new_ = true;
  polish();
  update();
  emit coarseChanged();
}

void WireLayer::rowsChanged() {
  dirty_[0] = dirty_[1] = true;
  polish();
}

void WireLayer::updatePolish() {
  bool& dirty = dirty_[coarse_ ? 1 : 0];
  if (!dirty) return;
  meshes_[coarse_ ? 1 : 0] = model_ ? wire_mesh(model_->rows(), line_width_, coarse_) : WireMesh{};
  dirty = false;
  mesh_new_ = true;
  ++builds_;
  emit built();
  update();
}

QSGNode* WireLayer::updatePaintNode(QSGNode* old, UpdatePaintNodeData*) {
  if (old && !mesh_new_) return old;
  mesh_new_ = false;
  return upload_colored_mesh(old, meshes_[coarse_ ? 1 : 0]);
}

}  // namespace lattice::editor
