#include "app/editor/canvas_grid.h"

#include <QPainter>
#include <QQuickWindow>
#include <QSGGeometryNode>
#include <QSGVertexColorMaterial>
#include <algorithm>
#include <cmath>
#include <cstring>

namespace lattice::editor {

CanvasGridTile::CanvasGridTile(CanvasGrid* grid) : QQuickPaintedItem(grid), grid_(grid) {
  setAntialiasing(false);
}

void CanvasGridTile::paint(QPainter* p) {
  ++paints;
  // The tile's top-left corner is on a major line (CanvasGrid::layoutTile), so its lines start at 0.
  for (const CanvasGrid::Line& l : grid_->lines(0, 0, width(), height())) {
    p->setPen(QPen(l.major ? grid_->majorColor() : grid_->color(), 1));
    if (l.vertical) p->drawLine(QPointF(l.at + 0.5, 0), QPointF(l.at + 0.5, height()));
    else p->drawLine(QPointF(0, l.at + 0.5), QPointF(width(), l.at + 0.5));
  }
}

CanvasGrid::CanvasGrid(QQuickItem* parent) : QQuickItem(parent), tile_(new CanvasGridTile(this)) { layoutTile(); }

void CanvasGrid::geometryChange(const QRectF& next, const QRectF& prev) {
  QQuickItem::geometryChange(next, prev);
  if (next.size() != prev.size()) {
    layoutTile();
    emit gridChanged();
  }
}

void CanvasGrid::itemChange(ItemChange change, const ItemChangeData& value) {
  QQuickItem::itemChange(change, value);
  if (change != ItemSceneChange) return;
  // The software renderer draws no custom geometry: it keeps the painted tile.
  geometry_ = value.window && value.window->rendererInterface()->graphicsApi() != QSGRendererInterface::Software;
  setFlag(ItemHasContents, geometry_);
  painted_.clear();
  layoutTile();
}

void CanvasGrid::layoutTile() {
  if (geometry_) {
    tile_->setVisible(false);
    update();
    return;
  }
  const double period = step_ * major_every_ * zoom_;
  const bool any = period > 0 && std::isfinite(period) && !lines(0, 0, period, period).empty();
  tile_->setVisible(any);
  if (!any) return;
  // Shift by less than a period: the tile's corner stays on a major line left of and above the view.
  auto wrap = [&](double v) { return std::floor(v - period * std::ceil(v / period)) ; };
  tile_->setPosition(QPointF(wrap(origin_x_), wrap(origin_y_)));
  tile_->setSize(QSizeF(std::ceil(width() + 2 * period), std::ceil(height() + 2 * period)));
  const QString content = QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8")
                              .arg(period).arg(tile_->width()).arg(tile_->height()).arg(min_spacing_)
                              .arg(major_every_).arg(color_.name()).arg(major_color_.name())
                              .arg(background_.name(QColor::HexArgb));
  if (content == painted_) return;
  painted_ = content;
  tile_->setFillColor(background_);
  tile_->setOpaquePainting(background_.alpha() == 255);
  tile_->update();
}

std::vector<CanvasGrid::Vertex> CanvasGrid::lineVertices(const std::vector<Line>& lines, qreal w, qreal h,
                                                         const QColor& minor, const QColor& major) {
  std::vector<Vertex> out;
  out.reserve(2 * lines.size());
  for (const Line& l : lines) {
    const QColor c = l.major ? major : minor;
    const double a = c.alphaF();
    const auto r = static_cast<uint8_t>(std::lround(c.red() * a)), g = static_cast<uint8_t>(std::lround(c.green() * a)),
               b = static_cast<uint8_t>(std::lround(c.blue() * a)), al = static_cast<uint8_t>(c.alpha());
    // Through the pixel centres of column (row) `at`, across the whole view.
    const float at = static_cast<float>(l.at) + 0.5f, end = static_cast<float>(l.vertical ? h : w);
    out.push_back(l.vertical ? Vertex{at, 0, r, g, b, al} : Vertex{0, at, r, g, b, al});
    out.push_back(l.vertical ? Vertex{at, end, r, g, b, al} : Vertex{end, at, r, g, b, al});
  }
  return out;
}

QSGNode* CanvasGrid::updatePaintNode(QSGNode* old, UpdatePaintNodeData*) {
  auto* node = static_cast<QSGGeometryNode*>(old);
  const std::vector<Vertex> vertices =
      geometry_ ? lineVertices(lines(origin_x_, origin_y_, width(), height()), width(), height(), color_, major_color_)
                : std::vector<Vertex>{};
  if (vertices.empty()) {
    delete node;
    return nullptr;
  }
  if (!node) {
    node = new QSGGeometryNode;
    auto* g = new QSGGeometry(QSGGeometry::defaultAttributes_ColoredPoint2D(), 0);
    g->setDrawingMode(QSGGeometry::DrawLines);
    g->setLineWidth(1);
    node->setGeometry(g);
    node->setFlag(QSGNode::OwnsGeometry);
    node->setMaterial(new QSGVertexColorMaterial);
    node->setFlag(QSGNode::OwnsMaterial);
  }
  static_assert(sizeof(Vertex) == sizeof(QSGGeometry::ColoredPoint2D));
  QSGGeometry* g = node->geometry();
  g->allocate(static_cast<int>(vertices.size()));
  std::memcpy(g->vertexData(), vertices.data(), vertices.size() * sizeof(Vertex));
  // Opaque lines skip blending and go into the renderer's opaque pass.
  node->material()->setFlag(QSGMaterial::Blending, color_.alpha() < 255 || major_color_.alpha() < 255);
  node->markDirty(QSGNode::DirtyGeometry | QSGNode::DirtyMaterial);
  return node;
}

std::vector<CanvasGrid::Line> CanvasGrid::lines(qreal ox, qreal oy, qreal w, qreal h) const {
  std::vector<Line> out;
  const double s = step_ * zoom_;
  if (!(s > 0) || !std::isfinite(s) || major_every_ < 1) return out;
  const bool minor = s >= min_spacing_;
  // Without minor lines only every major_every-th line is drawn, and only if those are far enough apart.
  const int stride = minor ? 1 : major_every_;
  if (s * stride < min_spacing_) return out;
  auto axis = [&](bool vertical, double origin, double extent) {
    // Lines k with origin + k*s in [0, extent): k from ceil(-origin / s).
    const long long first = static_cast<long long>(std::ceil(-origin / s));
    const long long start = first + ((stride - first % stride) % stride);  // first multiple of stride
    for (long long k = start; origin + static_cast<double>(k) * s < extent; k += stride) {
      const bool major = k % major_every_ == 0;
      out.push_back({vertical, static_cast<int>(std::floor(origin + static_cast<double>(k) * s)), major});
    }
  };
  axis(true, ox, w);
  axis(false, oy, h);
  std::stable_partition(out.begin(), out.end(), [](const Line& l) { return !l.major; });  // majors on top
  return out;
}

}  // namespace lattice::editor
