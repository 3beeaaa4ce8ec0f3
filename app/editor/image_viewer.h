#pragma once
/// ImageViewer: draws what the Evaluator shows (the viewed node's image, a video's frames, or a running
/// sampler's step preview) with zoom around a point and pan, over a checkerboard that shows transparency.
/// Pixels are sharp when magnified.
///
/// Display controls (exposure in stops, gamma, channel isolation) change only the displayed QImage
/// (display_transform.h); the float data stays as evaluated and readout() returns its values. For a
/// video, currentFrame selects the frame and `playing` advances it at the video's frame rate, timed by
/// a clock (frames are skipped rather than slowed when painting falls behind).
///
/// Threading: UI thread (QQuickPaintedItem rules: properties are set on the UI thread, paint() reads the
/// displayed QImage that the UI thread built).

#include <QElapsedTimer>
#include <QImage>
#include <QPointer>
#include <QQuickPaintedItem>
#include <QTimer>
#include <QVariantMap>
#include <QtQml/qqmlregistration.h>

#include "app/editor/display_transform.h"
#include "app/editor/evaluator.h"

namespace lattice::editor {

class ImageViewer : public QQuickPaintedItem {
  Q_OBJECT
  QML_ELEMENT
  /// The evaluator whose view this shows (optional: C++ callers may setFrames instead).
  Q_PROPERTY(lattice::editor::Evaluator* evaluator READ evaluator WRITE setEvaluator NOTIFY evaluatorChanged)
  Q_PROPERTY(qreal zoom READ zoom WRITE setZoom NOTIFY viewChanged)
  Q_PROPERTY(qreal panX READ panX WRITE setPanX NOTIFY viewChanged)
  Q_PROPERTY(qreal panY READ panY WRITE setPanY NOTIFY viewChanged)
  Q_PROPERTY(bool hasImage READ hasImage NOTIFY imageChanged)
  Q_PROPERTY(QString sizeText READ sizeText NOTIFY imageChanged)
  Q_PROPERTY(qreal exposure READ exposure WRITE setExposure NOTIFY displayChanged)
  Q_PROPERTY(qreal gamma READ gamma WRITE setGamma NOTIFY displayChanged)
  Q_PROPERTY(Channel channel READ channel WRITE setChannel NOTIFY displayChanged)
  Q_PROPERTY(bool isVideo READ isVideo NOTIFY imageChanged)
  Q_PROPERTY(int frameCount READ frameCount NOTIFY imageChanged)
  Q_PROPERTY(qreal fps READ fps NOTIFY imageChanged)
  Q_PROPERTY(int currentFrame READ currentFrame WRITE setCurrentFrame NOTIFY frameChanged)
  Q_PROPERTY(bool playing READ playing WRITE setPlaying NOTIFY playingChanged)

 public:
  enum class Channel { RGB, Red, Green, Blue, Alpha, Luminance };
  Q_ENUM(Channel)

  explicit ImageViewer(QQuickItem* parent = nullptr);
  void paint(QPainter* p) override;

  Evaluator* evaluator() const { return evaluator_; }
  void setEvaluator(Evaluator* e);
  /// Shows `frames` (keeps the current frame when the count allows, else goes to frame 0).
  void setFrames(ViewFrames frames);
  const ViewFrames& frames() const { return frames_; }
  /// What paint() draws: the current frame through the display transform.
  QImage displayImage() const { return display_; }

  qreal zoom() const { return zoom_; }
  void setZoom(qreal z);
  qreal panX() const { return pan_x_; }
  void setPanX(qreal x);
  qreal panY() const { return pan_y_; }
  void setPanY(qreal y);
  bool hasImage() const { return !frames_.frames.empty(); }
  QString sizeText() const;

  qreal exposure() const { return options_.exposure; }
  void setExposure(qreal stops);
  qreal gamma() const { return options_.gamma; }
  /// Clamped to [0.1, 10].
  void setGamma(qreal g);
  Channel channel() const { return static_cast<Channel>(options_.channel); }
  void setChannel(Channel c);

  bool isVideo() const { return frames_.isVideo(); }
  int frameCount() const { return static_cast<int>(frames_.frames.size()); }
  qreal fps() const { return frames_.isVideo() ? qreal(frames_.fps_num) / frames_.fps_den : 0; }
  int currentFrame() const { return frame_; }
  /// Clamped to [0, frameCount - 1].
  void setCurrentFrame(int f);
  bool playing() const { return play_timer_.isActive(); }
  /// Plays (videos only) from the current frame, looping.
  void setPlaying(bool on);

  /// Fits the image in the item.
  Q_INVOKABLE void fit();
  /// Multiplies the zoom by `factor`, keeping the image point under (x, y) (item coordinates) in place.
  Q_INVOKABLE void zoomAt(qreal factor, qreal x, qreal y);
  /// The image point under item point (x, y) (may be outside the image).
  Q_INVOKABLE QPointF imagePoint(qreal x, qreal y) const;
  /// The stored float values of the current frame's pixel under item point (x, y): {x, y, channels,
  /// values}; {} outside the image.
  Q_INVOKABLE QVariantMap readout(qreal x, qreal y) const;

 signals:
  void evaluatorChanged();
  void imageChanged();
  void viewChanged();
  void displayChanged();
  void frameChanged();
  void playingChanged();

 private:
  void rebuildDisplay();
  void tick();

  QPointer<Evaluator> evaluator_;
  QMetaObject::Connection evaluator_conn_;
  ViewFrames frames_;
  DisplayOptions options_;
  QImage display_;
  int frame_ = 0;
  QTimer play_timer_;
  QElapsedTimer play_clock_;
  int play_start_frame_ = 0;
  qreal zoom_ = 1, pan_x_ = 0, pan_y_ = 0;
  bool fitted_ = false;
};

}  // namespace lattice::editor
