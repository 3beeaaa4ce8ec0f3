#pragma once
/// CanvasGrid: the node canvas's background grid, one pixel lines every `step` canvas units (every
/// `majorEvery`-th line in majorColor), for a view whose canvas origin is at (originX, originY) pixels
/// and whose scale is `zoom` pixels per canvas unit. Minor lines closer than minSpacing pixels are left
/// out. How they are drawn depends on the renderer:
/// - Hardware (RHI, also llvmpipe): one geometry node of one-pixel lines (colour per vertex, opaque), built
///   from lines() for every pan or zoom step: a few hundred vertices, nothing painted or uploaded as an
///   image. The background shows through between the lines (the canvas fills it below the grid).
/// - Software renderer (QT_QPA_PLATFORM=offscreen, the tests): the lines are painted (QPainter) into one
///   tile one major period larger than the view on each side, filled with `background`, repainted only
///   when the zoom, size or colours change; a pan only moves the tile by less than a period. One image
///   node: a pan dirties one rectangle, not one per line (a grid of a few hundred line nodes made every
///   item's repaint clip against a region of hundreds of rectangles, 6x slower; docs/performance.md).
/// A painted tile was also used on hardware until a zoom step was found to cost ~3 ms of CPU there to
/// repaint and upload a window-sized image (docs/performance.md, editor canvas, zoom).
///
/// Threading: UI thread (QQuickPaintedItem rules for the tile); the line geometry is built in
/// updatePaintNode on the render thread while the UI thread is blocked.

#include <QColor>
#include <QQuickItem>
#include <QQuickPaintedItem>
#include <QtQml/qqmlregistration.h>
#include <cstdint>
#include <vector>

namespace lattice::editor {

class CanvasGrid;

/// The painted tile of a CanvasGrid (a child item; not for QML).
class CanvasGridTile : public QQuickPaintedItem {
 public:
  explicit CanvasGridTile(CanvasGrid* grid);
  void paint(QPainter* p) override;
  int paints = 0;  ///< how often it was painted (tests: a pan repaints nothing)

 private:
  CanvasGrid* grid_;
};

class CanvasGrid : public QQuickItem {
  Q_OBJECT
  QML_ELEMENT
  Q_PROPERTY(qreal zoom MEMBER zoom_ WRITE setZoom NOTIFY gridChanged)
  Q_PROPERTY(qreal originX MEMBER origin_x_ WRITE setOriginX NOTIFY gridChanged)
  Q_PROPERTY(qreal originY MEMBER origin_y_ WRITE setOriginY NOTIFY gridChanged)
  Q_PROPERTY(qreal step MEMBER step_ WRITE setStep NOTIFY gridChanged)
  Q_PROPERTY(int majorEvery MEMBER major_every_ WRITE setMajorEvery NOTIFY gridChanged)
  Q_PROPERTY(qreal minSpacing MEMBER min_spacing_ WRITE setMinSpacing NOTIFY gridChanged)
  Q_PROPERTY(QColor color MEMBER color_ WRITE setColor NOTIFY gridChanged)
  Q_PROPERTY(QColor majorColor MEMBER major_color_ WRITE setMajorColor NOTIFY gridChanged)
  /// What the tile is filled with under the lines. Opaque (the canvas background), the tile is drawn in
  /// the renderer's opaque pass instead of being blended over the whole view on every frame.
  Q_PROPERTY(QColor background MEMBER background_ WRITE setBackground NOTIFY gridChanged)
  /// Lines in view (for tests).
  Q_PROPERTY(int lineCount READ lineCount NOTIFY gridChanged)
  /// How often the tile was painted (for tests: a pan paints nothing).
  Q_PROPERTY(int paintCount READ paintCount NOTIFY gridChanged)

 public:
  explicit CanvasGrid(QQuickItem* parent = nullptr);

  void setZoom(qreal v) { set(zoom_, v); }
  void setOriginX(qreal v) { set(origin_x_, v); }
  void setOriginY(qreal v) { set(origin_y_, v); }
  void setStep(qreal v) { set(step_, v); }
  void setMajorEvery(int v) { set(major_every_, v); }
  void setMinSpacing(qreal v) { set(min_spacing_, v); }
  void setColor(const QColor& v) { set(color_, v); }
  void setMajorColor(const QColor& v) { set(major_color_, v); }
  void setBackground(const QColor& v) { set(background_, v); }

  struct Line {
    bool vertical;
    int at;  ///< pixel column (vertical) or row
    bool major;
  };
  /// The lines of a view of size (w, h) whose canvas origin is at (ox, oy) pixels, minor lines first.
  std::vector<Line> lines(qreal ox, qreal oy, qreal w, qreal h) const;
  int lineCount() const { return static_cast<int>(lines(origin_x_, origin_y_, width(), height()).size()); }
  int paintCount() const { return tile_->paints; }
  /// Whether the lines are one geometry node (hardware renderers) rather than the painted tile.
  bool drawsGeometry() const { return geometry_; }

  /// One-pixel lines as line-list vertices (two per line, at pixel centres) of a view of size (w, h),
  /// each with its colour, premultiplied (opaque colours: as they are).
  struct Vertex {
    float x, y;
    uint8_t r, g, b, a;
  };
  static std::vector<Vertex> lineVertices(const std::vector<Line>& lines, qreal w, qreal h, const QColor& minor,
                                          const QColor& major);
  QColor color() const { return color_; }
  QColor majorColor() const { return major_color_; }

 signals:
  void gridChanged();

 protected:
  void geometryChange(const QRectF& next, const QRectF& prev) override;
  void itemChange(ItemChange change, const ItemChangeData& value) override;
  QSGNode* updatePaintNode(QSGNode* old, UpdatePaintNodeData*) override;

 private:
  template <class T>
  void set(T& field, const T& v) {
    if (field == v) return;
    field = v;
    layoutTile();
    emit gridChanged();
  }
  /// Sizes, places and (when its content changed) repaints the tile.
  void layoutTile();

  qreal zoom_ = 1, origin_x_ = 0, origin_y_ = 0, step_ = 20, min_spacing_ = 6;
  int major_every_ = 5;
  QColor color_{0x2a, 0x2b, 0x2e}, major_color_{0x34, 0x36, 0x3a}, background_{Qt::transparent};
  CanvasGridTile* tile_;
  QString painted_;  // what the tile shows: period, size, spacing, colours
  bool geometry_ = false;  // drawn as line geometry (a hardware renderer), not as the tile
};

}  // namespace lattice::editor
