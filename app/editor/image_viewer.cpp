#include "app/editor/image_viewer.h"

#include <QPainter>
#include <algorithm>

namespace lattice::editor {

ImageViewer::ImageViewer(QQuickItem* parent) : QQuickPaintedItem(parent) {
  connect(this, &QQuickItem::widthChanged, this, [this] { if (!fitted_) fit(); update(); });
  connect(this, &QQuickItem::heightChanged, this, [this] { if (!fitted_) fit(); update(); });
}

void ImageViewer::setImage(const QImage& img) {
  const bool new_size = img.size() != image_.size();
  image_ = img;
  if (new_size) fitted_ = false;
  if (!fitted_) fit();
  emit imageChanged();
  update();
}

void ImageViewer::setZoom(qreal z) {
  z = std::clamp(z, 1.0 / 64, 64.0);
  if (z == zoom_) return;
  zoom_ = z;
  fitted_ = true;
  emit viewChanged();
  update();
}

void ImageViewer::setPanX(qreal x) {
  if (x == pan_x_) return;
  pan_x_ = x;
  fitted_ = true;
  emit viewChanged();
  update();
}

void ImageViewer::setPanY(qreal y) {
  if (y == pan_y_) return;
  pan_y_ = y;
  fitted_ = true;
  emit viewChanged();
  update();
}

QString ImageViewer::sizeText() const {
  return image_.isNull() ? QString() : QStringLiteral("%1 \u00d7 %2").arg(image_.width()).arg(image_.height());
}

void ImageViewer::fit() {
  if (image_.isNull() || width() <= 0 || height() <= 0) return;
  zoom_ = std::min({width() / image_.width(), height() / image_.height(), 1.0 * 8});
  pan_x_ = pan_y_ = 0;
  fitted_ = false;
  emit viewChanged();
  update();
}

void ImageViewer::zoomAt(qreal factor, qreal x, qreal y) {
  // The image centre sits at item centre + pan; keep the point under (x, y) fixed.
  const qreal cx = width() / 2 + pan_x_, cy = height() / 2 + pan_y_;
  const qreal old = zoom_;
  setZoom(zoom_ * factor);
  const qreal k = zoom_ / old;
  setPanX(x - (x - cx) * k - width() / 2);
  setPanY(y - (y - cy) * k - height() / 2);
}

void ImageViewer::paint(QPainter* p) {
  p->fillRect(boundingRect(), QColor(30, 30, 30));
  if (image_.isNull()) return;
  const QSizeF s(image_.width() * zoom_, image_.height() * zoom_);
  const QRectF target(width() / 2 + pan_x_ - s.width() / 2, height() / 2 + pan_y_ - s.height() / 2, s.width(), s.height());
  // Checkerboard under the image so that transparency is visible.
  const int cell = 8;
  p->save();
  p->setClipRect(target.intersected(boundingRect()));
  for (int y = int(target.top()) / cell * cell - cell; y < target.bottom(); y += cell)
    for (int x = int(target.left()) / cell * cell - cell; x < target.right(); x += cell)
      p->fillRect(x, y, cell, cell, ((x / cell + y / cell) & 1) ? QColor(90, 90, 90) : QColor(60, 60, 60));
  p->restore();
  p->setRenderHint(QPainter::SmoothPixmapTransform, zoom_ < 1);
  p->drawImage(target, image_);
}

}  // namespace lattice::editor
