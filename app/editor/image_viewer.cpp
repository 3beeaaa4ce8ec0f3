#include "app/editor/image_viewer.h"

#include <QPainter>
#include <algorithm>
#include <cmath>

#include "app/editor/evaluator.h"

namespace lattice::editor {

static_assert(static_cast<int>(ImageViewer::Channel::Luminance) == static_cast<int>(DisplayChannel::Luminance),
              "ImageViewer::Channel mirrors DisplayChannel");

ImageViewer::ImageViewer(QQuickItem* parent) : QQuickPaintedItem(parent) {
  connect(this, &QQuickItem::widthChanged, this, [this] { if (!fitted_) fit(); update(); });
  connect(this, &QQuickItem::heightChanged, this, [this] { if (!fitted_) fit(); update(); });
  play_timer_.setTimerType(Qt::PreciseTimer);
  connect(&play_timer_, &QTimer::timeout, this, &ImageViewer::tick);
}

void ImageViewer::setEvaluator(Evaluator* e) {
  if (e == evaluator_) return;
  disconnect(evaluator_conn_);
  evaluator_ = e;
  if (e) {
    evaluator_conn_ = connect(e, &Evaluator::viewChanged, this, [this] { setFrames(evaluator_->viewFrames()); });
    setFrames(e->viewFrames());
  }
  emit evaluatorChanged();
}

void ImageViewer::setFrames(ViewFrames frames) {
  const QSize old_size = display_.size();
  const bool was_video = frames_.isVideo();
  frames_ = std::move(frames);
  if (!frames_.isVideo() || frame_ >= frameCount()) frame_ = 0;
  if (!frames_.isVideo() && was_video) setPlaying(false);
  rebuildDisplay();
  if (display_.size() != old_size) fitted_ = false;
  if (!fitted_) fit();
  emit imageChanged();
  emit frameChanged();
}

void ImageViewer::rebuildDisplay() {
  display_ = frames_.frames.empty() ? QImage() : display_image(*frames_.frames[frame_], options_);
  update();
}

void ImageViewer::setExposure(qreal stops) {
  if (!std::isfinite(stops) || stops == options_.exposure) return;
  options_.exposure = std::clamp(stops, -20.0, 20.0);
  rebuildDisplay();
  emit displayChanged();
}

void ImageViewer::setGamma(qreal g) {
  if (!std::isfinite(g)) return;
  g = std::clamp(g, 0.1, 10.0);
  if (g == options_.gamma) return;
  options_.gamma = g;
  rebuildDisplay();
  emit displayChanged();
}

void ImageViewer::setChannel(Channel c) {
  if (static_cast<DisplayChannel>(c) == options_.channel) return;
  options_.channel = static_cast<DisplayChannel>(c);
  rebuildDisplay();
  emit displayChanged();
}

void ImageViewer::setCurrentFrame(int f) {
  f = frames_.frames.empty() ? 0 : std::clamp(f, 0, frameCount() - 1);
  if (f == frame_) return;
  frame_ = f;
  if (playing()) {  // a seek while playing continues from there
    play_start_frame_ = f;
    play_clock_.start();
  }
  rebuildDisplay();
  emit frameChanged();
}

void ImageViewer::setPlaying(bool on) {
  on = on && frames_.isVideo() && frameCount() > 1;
  if (on == playing()) return;
  if (on) {
    play_start_frame_ = frame_;
    play_clock_.start();
    // Ticks at twice the frame rate; the frame shown is computed from the clock.
    play_timer_.start(std::max(1, static_cast<int>(500.0 * frames_.fps_den / frames_.fps_num)));
  } else {
    play_timer_.stop();
  }
  emit playingChanged();
}

void ImageViewer::tick() {
  if (!frames_.isVideo() || frames_.frames.empty()) return setPlaying(false);
  const qint64 ms = play_clock_.elapsed();
  const qint64 advanced = ms * frames_.fps_num / (1000LL * frames_.fps_den);
  const int f = static_cast<int>((play_start_frame_ + advanced) % frameCount());
  if (f == frame_) return;
  frame_ = f;
  rebuildDisplay();
  emit frameChanged();
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
  return display_.isNull() ? QString() : QStringLiteral("%1 \u00d7 %2").arg(display_.width()).arg(display_.height());
}

void ImageViewer::fit() {
  if (display_.isNull() || width() <= 0 || height() <= 0) return;
  zoom_ = std::min({width() / display_.width(), height() / display_.height(), 1.0 * 8});
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

QPointF ImageViewer::imagePoint(qreal x, qreal y) const {
  const qreal left = width() / 2 + pan_x_ - display_.width() * zoom_ / 2;
  const qreal top = height() / 2 + pan_y_ - display_.height() * zoom_ / 2;
  return {(x - left) / zoom_, (y - top) / zoom_};
}

QVariantMap ImageViewer::readout(qreal x, qreal y) const {
  if (frames_.frames.empty()) return {};
  const QPointF p = imagePoint(x, y);
  return pixel_values(*frames_.frames[frame_], static_cast<int>(std::floor(p.x())), static_cast<int>(std::floor(p.y())));
}

void ImageViewer::paint(QPainter* p) {
  p->fillRect(boundingRect(), QColor(30, 30, 30));
  if (display_.isNull()) return;
  const QSizeF s(display_.width() * zoom_, display_.height() * zoom_);
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
  p->drawImage(target, display_);
}

}  // namespace lattice::editor
