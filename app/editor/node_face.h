#pragma once
/// NodeFace: everything a node on the canvas shows but its progress bar (body, border, header with title
/// and state dot, port dots and labels, parameter summary, status line), painted with QPainter into one
/// image and drawn as one textured quad. The image is repainted only when what it shows changes (a
/// property below, or the `detail` level), never on a pan or zoom: the canvas scales it with its content.
///
/// Why: drawn as QML items a node was about twenty scene-graph nodes (rectangles, distance-field text runs
/// of several colours and sizes) that the renderer could not merge across nodes, about 5 draw calls per
/// node and all of them re-uploaded whenever culling changed the tree (docs/performance.md, editor
/// canvas). Images that fit go into the scene graph's texture atlas, so the faces of all nodes merge into
/// a few draw calls.
///
/// The image is `detail` pixels per canvas unit (the canvas sets 1 up to zoom 1, then 2 or 4, once a zoom
/// gesture settles: while it goes on, faces are scaled, never repainted). Geometry follows NodeLayout
/// (node_list_model.h); the port dots reach kDotMargin units beyond the item's left and right edges.
///
/// Frame budget: the faces of one window paint at most frameBudget() milliseconds per frame (at least one
/// face); the others wait for the next frame, still showing their last image scaled, or, never painted, a
/// plain body-coloured rectangle. So a settled zoom that changes the detail of a hundred faces, or a zoom
/// out that brings hundreds of never-seen faces into view, is spread over frames instead of making one
/// frame take hundreds of milliseconds. Only visible (not culled) faces paint.
///
/// Memory: the image is handed to the scene graph and not kept (the atlas and plain textures drop their
/// copy once uploaded); a face whose scene-graph node is lost (window change) paints again.
///
/// Threading: properties and painting on the UI thread (updatePolish, only while visible); the texture is
/// made in updatePaintNode on the render thread while the UI thread is blocked.

#include <QColor>
#include <QImage>
#include <QQuickItem>
#include <QVariantList>
#include <QtQml/qqmlregistration.h>

namespace lattice::editor {

class NodeFace : public QQuickItem {
  Q_OBJECT
  QML_ELEMENT
  Q_PROPERTY(QString nodeId MEMBER node_id_ WRITE setNodeId NOTIFY faceChanged)
  Q_PROPERTY(QString typeName MEMBER type_name_ WRITE setTypeName NOTIFY faceChanged)
  /// [{name, type, color, optional, ...}] as NodeListModel's inputs/outputs roles.
  Q_PROPERTY(QVariantList inputs MEMBER inputs_ WRITE setInputs NOTIFY faceChanged)
  Q_PROPERTY(QVariantList outputs MEMBER outputs_ WRITE setOutputs NOTIFY faceChanged)
  Q_PROPERTY(QString summary MEMBER summary_ WRITE setSummary NOTIFY faceChanged)
  Q_PROPERTY(bool known MEMBER known_ WRITE setKnown NOTIFY faceChanged)
  Q_PROPERTY(bool selected MEMBER selected_ WRITE setSelected NOTIFY faceChanged)
  Q_PROPERTY(QColor stateColor MEMBER state_color_ WRITE setStateColor NOTIFY faceChanged)
  /// The footer line ("done: 1.2 s", an error; empty: none) and its colour.
  Q_PROPERTY(QString status MEMBER status_ WRITE setStatus NOTIFY faceChanged)
  Q_PROPERTY(QColor statusColor MEMBER status_color_ WRITE setStatusColor NOTIFY faceChanged)
  /// While a wire is dragged: the port type it carries (empty: none) and whether it can end on inputs;
  /// ports that can take it are drawn larger with a light ring.
  Q_PROPERTY(QString highlightType MEMBER highlight_type_ WRITE setHighlightType NOTIFY faceChanged)
  Q_PROPERTY(bool highlightInputs MEMBER highlight_inputs_ WRITE setHighlightInputs NOTIFY faceChanged)
  /// Image pixels per canvas unit.
  Q_PROPERTY(qreal detail MEMBER detail_ WRITE setDetail NOTIFY faceChanged)
  Q_PROPERTY(QColor bodyColor MEMBER body_color_ WRITE setBodyColor NOTIFY faceChanged)
  Q_PROPERTY(QColor headerColor MEMBER header_color_ WRITE setHeaderColor NOTIFY faceChanged)
  Q_PROPERTY(QColor textColor MEMBER text_color_ WRITE setTextColor NOTIFY faceChanged)
  Q_PROPERTY(QColor dimColor MEMBER dim_color_ WRITE setDimColor NOTIFY faceChanged)
  Q_PROPERTY(QColor selectionColor MEMBER selection_color_ WRITE setSelectionColor NOTIFY faceChanged)
  Q_PROPERTY(QColor errorColor MEMBER error_color_ WRITE setErrorColor NOTIFY faceChanged)
  /// How often the image was painted (tests: a pan or zoom within one detail level paints nothing).
  Q_PROPERTY(int paintCount READ paintCount NOTIFY faceChanged)
  /// The detail (pixels per unit, without the device pixel ratio) of the image shown now; 0: none yet.
  Q_PROPERTY(qreal paintedDetail READ paintedDetail NOTIFY faceChanged)

 public:
  static constexpr double kDotMargin = 8;  ///< canvas units painted beyond the left and right edges

  explicit NodeFace(QQuickItem* parent = nullptr);

  void setNodeId(const QString& v) { set(node_id_, v); }
  void setTypeName(const QString& v) { set(type_name_, v); }
  void setInputs(const QVariantList& v) { set(inputs_, v); }
  void setOutputs(const QVariantList& v) { set(outputs_, v); }
  void setSummary(const QString& v) { set(summary_, v); }
  void setKnown(bool v) { set(known_, v); }
  void setSelected(bool v) { set(selected_, v); }
  void setStateColor(const QColor& v) { set(state_color_, v); }
  void setStatus(const QString& v) { set(status_, v); }
  void setStatusColor(const QColor& v) { set(status_color_, v); }
  void setHighlightType(const QString& v);
  void setHighlightInputs(bool v);
  void setDetail(qreal v) { set(detail_, v > 0 ? v : 1); }
  void setBodyColor(const QColor& v) { set(body_color_, v); }
  void setHeaderColor(const QColor& v) { set(header_color_, v); }
  void setTextColor(const QColor& v) { set(text_color_, v); }
  void setDimColor(const QColor& v) { set(dim_color_, v); }
  void setSelectionColor(const QColor& v) { set(selection_color_, v); }
  void setErrorColor(const QColor& v) { set(error_color_, v); }
  int paintCount() const { return paints_; }
  qreal paintedDetail() const { return painted_detail_; }
  /// Whether the image is out of date (waiting to be painted, e.g. for the frame budget or while culled).
  bool needsPaint() const { return dirty_; }

  /// Milliseconds of face painting per frame and window (default 6); 0: one face per frame.
  static void setFrameBudget(double ms);
  static double frameBudget();

  /// The face at `pixelsPerUnit` (times the window's device pixel ratio when shown): an image of
  /// (width + 2 * kDotMargin) x height canvas units whose left edge is kDotMargin units left of the item.
  QImage paintFace(qreal pixelsPerUnit, QImage::Format format = QImage::Format_ARGB32_Premultiplied) const;
  /// Whether port `p` (one entry of inputs or outputs) is drawn highlighted.
  bool highlighted(const QVariantMap& p, bool input) const;

 signals:
  void faceChanged();

 protected:
  QSGNode* updatePaintNode(QSGNode* old, UpdatePaintNodeData*) override;
  void updatePolish() override;
  void geometryChange(const QRectF& next, const QRectF& prev) override;
  void itemChange(ItemChange change, const ItemChangeData& value) override;

 private:
  template <class T>
  void set(T& field, const T& v) {
    if (field == v) return;
    field = v;
    invalidate();
    emit faceChanged();
  }
  /// The image is out of date: repaint it before the next frame that shows it.
  void invalidate();
  /// Which ports are highlighted now, one character per port (inputs then outputs).
  QString highlightKey() const;

  QString node_id_, type_name_, summary_, status_, highlight_type_;
  QVariantList inputs_, outputs_;
  bool known_ = true, selected_ = false, highlight_inputs_ = true;
  qreal detail_ = 1;
  QColor state_color_{0x60, 0x64, 0x6b}, body_color_{0x3a, 0x3c, 0x40}, header_color_{0x4a, 0x4d, 0x52},
      text_color_{0xe6, 0xe6, 0xe6}, dim_color_{0xa0, 0xa4, 0xab}, selection_color_{0x4a, 0xa3, 0xff},
      error_color_{0xff, 0x6b, 0x6b}, status_color_{0xa0, 0xa4, 0xab};
  mutable int paints_ = 0;
  bool dirty_ = true;        // the image does not show the current properties
  QImage image_;             // painted on the UI thread, handed to the render thread in updatePaintNode
  qreal painted_detail_ = 0;
  bool placeholder_ = false; // the scene-graph node is the rectangle shown before the first image
};

}  // namespace lattice::editor
