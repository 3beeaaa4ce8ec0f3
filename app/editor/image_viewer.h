#pragma once
/// ImageViewer: draws a QImage (the viewed node's output) with zoom around a point and pan, over a
/// checkerboard that shows transparency. Pixels are sharp when magnified. UI (scene graph) thread rules of
/// QQuickPaintedItem apply: properties are set from QML on the UI thread.

#include <QImage>
#include <QQuickPaintedItem>
#include <QtQml/qqmlregistration.h>

namespace lattice::editor {

class ImageViewer : public QQuickPaintedItem {
  Q_OBJECT
  QML_ELEMENT
  Q_PROPERTY(QImage image READ image WRITE setImage NOTIFY imageChanged)
  Q_PROPERTY(qreal zoom READ zoom WRITE setZoom NOTIFY viewChanged)
  Q_PROPERTY(qreal panX READ panX WRITE setPanX NOTIFY viewChanged)
  Q_PROPERTY(qreal panY READ panY WRITE setPanY NOTIFY viewChanged)
  Q_PROPERTY(bool hasImage READ hasImage NOTIFY imageChanged)
  Q_PROPERTY(QString sizeText READ sizeText NOTIFY imageChanged)
 public:
  explicit ImageViewer(QQuickItem* parent = nullptr);
  void paint(QPainter* p) override;

  QImage image() const { return image_; }
  void setImage(const QImage& img);
  qreal zoom() const { return zoom_; }
  void setZoom(qreal z);
  qreal panX() const { return pan_x_; }
  void setPanX(qreal x);
  qreal panY() const { return pan_y_; }
  void setPanY(qreal y);
  bool hasImage() const { return !image_.isNull(); }
  QString sizeText() const;

  /// Fits the image in the item.
  Q_INVOKABLE void fit();
  /// Multiplies the zoom by `factor`, keeping the image point under (x, y) (item coordinates) in place.
  Q_INVOKABLE void zoomAt(qreal factor, qreal x, qreal y);

 signals:
  void imageChanged();
  void viewChanged();

 private:
  QImage image_;
  qreal zoom_ = 1, pan_x_ = 0, pan_y_ = 0;
  bool fitted_ = false;
};

}  // namespace lattice::editor
