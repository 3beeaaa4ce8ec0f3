#pragma once
/// FarNodeLayer: every node of the canvas as a few flat rectangles, for when the canvas is zoomed far out
/// (NodeCanvas.qml `far`): outline (selection or error colour when selected or unknown), body, header bar,
/// state badge, port squares (larger, ringed, when they can take the wire being dragged) and the progress
/// bar of a running node. On hardware renderers all of them are one scene-graph geometry node (a colour
/// per vertex, opaque pass), built from a NodeListModel when its rows change, never on a pan or a zoom;
/// the software renderer, which draws no custom geometry, gets them painted into one image (0.4 pixels
/// per canvas unit, the largest zoom the canvas shows the layer at), scaled with the canvas. A change of
/// some nodes' rows that keeps their rectangle count (state, progress, selection, position: what a running
/// model and a drag change) patches their vertices (or their part of the image) in place instead of
/// listing every node again; their message draws nothing here and changes nothing.
///
/// Why: zoomed out to 0.3 about 270 nodes are in view, and as node delegates that was about 3,300 visible
/// items (faces, mouse areas, port hit areas, footers) and 270 blended textured quads, 22 ms of CPU per
/// frame on llvmpipe, p95 36-42 ms (docs/performance.md, editor canvas). While the layer shows, the
/// canvas hides the delegates (NodeListModel::setViewRect with items false) and hit-tests in C++
/// (GraphDocument::nodeAt, portAt).
///
/// Threading: UI thread (the rectangles are listed, and turned into the mesh or painted into the software
/// renderer's image, in updatePolish, only while visible); updatePaintNode only hands the finished mesh
/// or image over to the scene graph on the render thread while the UI thread is blocked.

#include <QColor>
#include <QImage>
#include <QHash>
#include <QPointer>
#include <QQuickItem>
#include <QRectF>
#include <QVariantMap>
#include <QtQml/qqmlregistration.h>
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "app/editor/canvas_layer.h"
#include "app/editor/node_list_model.h"

namespace lattice::editor {

/// Colours of the far nodes, and which ports a dragged wire could end on.
struct FarNodeStyle {
  QColor body{0x3a, 0x3c, 0x40}, header{0x4a, 0x4d, 0x52}, outline{0x1a, 0x1a, 0x1a}, selection{0x4a, 0xa3, 0xff},
      error{0xff, 0x6b, 0x6b}, ring{0xe6, 0xe6, 0xe6}, idle{0x60, 0x64, 0x6b};
  QHash<QString, QColor> states;  ///< state name -> badge colour ("running" also colours the progress bar)
  QString highlight_type;         ///< port type of the wire being dragged; empty: none
  bool highlight_inputs = true;   ///< the wire can end on inputs (else on outputs)
  QString highlight_except;       ///< the node the wire starts from: none of its ports is highlighted
};

/// One flat rectangle of the layer, in canvas units.
struct FarRect {
  QRectF rect;
  QColor color;
  bool operator==(const FarRect&) const = default;
};

/// The rectangles of `model`'s nodes, back to front (later nodes above earlier ones, as their delegates).
/// Each node has the same number of rectangles whatever its state, progress or selection (the progress
/// bar is empty unless it runs), so those changes are patched in place. `starts`, if given, receives the
/// index of each node's first rectangle, and the total count last.
std::vector<FarRect> far_node_rects(const NodeListModel& model, const FarNodeStyle& style,
                                    std::vector<size_t>* starts = nullptr);
/// The rectangles of one row of `model`, appended to `out`.
void far_node_rects(const NodeListModel& model, const NodeRow& row, const FarNodeStyle& style, std::vector<FarRect>& out);
/// `rects` as triangles, two per rectangle; front to back (reversed) when all are opaque, since the
/// opaque pass's depth test keeps the first of equal depths.
ColoredMesh far_rect_mesh(const std::vector<FarRect>& rects);
/// Writes `rects`, rectangles [first, first + rects.size()) of the `count` that `mesh` (from far_rect_mesh)
/// shows, into its vertices in place; returns the vertices written, [first, last).
std::pair<size_t, size_t> far_rect_mesh_patch(ColoredMesh& mesh, size_t count, size_t first, const std::vector<FarRect>& rects);
/// The software renderer's image of `rects`: painted at `pixels_per_unit` (less if it would exceed 4096
/// pixels a side), with a transparent margin; `bounds` receives the canvas rectangle it covers.
QImage far_rect_image(const std::vector<FarRect>& rects, double pixels_per_unit, QRectF* bounds);
/// Paints pixels `pixels` of `image` (which shows canvas rectangle `bounds`) again: cleared, then every
/// rectangle of `rects` that meets them, in order.
void far_rect_paint(QImage& image, const QRectF& bounds, const std::vector<FarRect>& rects, const QRect& pixels);

class FarNodeLayer : public QQuickItem {
  Q_OBJECT
  QML_ELEMENT
  Q_PROPERTY(lattice::editor::NodeListModel* model READ model WRITE setModel NOTIFY modelChanged)
  Q_PROPERTY(QColor bodyColor READ bodyColor WRITE setBodyColor NOTIFY styleChanged)
  Q_PROPERTY(QColor headerColor READ headerColor WRITE setHeaderColor NOTIFY styleChanged)
  Q_PROPERTY(QColor selectionColor READ selectionColor WRITE setSelectionColor NOTIFY styleChanged)
  Q_PROPERTY(QColor errorColor READ errorColor WRITE setErrorColor NOTIFY styleChanged)
  Q_PROPERTY(QColor ringColor READ ringColor WRITE setRingColor NOTIFY styleChanged)
  /// {state name: colour} for the state badge (see NodeListModel::setState); others: the "idle" entry.
  Q_PROPERTY(QVariantMap stateColors READ stateColors WRITE setStateColors NOTIFY styleChanged)
  /// As NodeFace: while a wire is dragged, its port type, whether it ends on inputs, and its own node.
  Q_PROPERTY(QString highlightType READ highlightType WRITE setHighlightType NOTIFY styleChanged)
  Q_PROPERTY(bool highlightInputs READ highlightInputs WRITE setHighlightInputs NOTIFY styleChanged)
  Q_PROPERTY(QString highlightExcept READ highlightExcept WRITE setHighlightExcept NOTIFY styleChanged)
  /// How often the rectangles were listed (tests: a pan or zoom lists nothing).
  Q_PROPERTY(int buildCount READ buildCount NOTIFY built)
  /// How many nodes' rectangles were patched in place, in all (tests).
  Q_PROPERTY(int patchCount READ patchCount NOTIFY built)
  /// Rectangles shown, empty ones (progress bars of nodes not running) left out (tests).
  Q_PROPERTY(int rectCount READ rectCount NOTIFY built)

 public:
  explicit FarNodeLayer(QQuickItem* parent = nullptr);
  NodeListModel* model() const { return model_; }
  void setModel(NodeListModel* m);
  QColor bodyColor() const { return style_.body; }
  QColor headerColor() const { return style_.header; }
  QColor selectionColor() const { return style_.selection; }
  QColor errorColor() const { return style_.error; }
  QColor ringColor() const { return style_.ring; }
  QVariantMap stateColors() const;
  QString highlightType() const { return style_.highlight_type; }
  bool highlightInputs() const { return style_.highlight_inputs; }
  QString highlightExcept() const { return style_.highlight_except; }
  void setBodyColor(const QColor& c) { set(style_.body, c); }
  void setHeaderColor(const QColor& c) { set(style_.header, c); }
  void setSelectionColor(const QColor& c) { set(style_.selection, c); }
  void setErrorColor(const QColor& c) { set(style_.error, c); }
  void setRingColor(const QColor& c) { set(style_.ring, c); }
  void setStateColors(const QVariantMap& colors);
  void setHighlightType(const QString& t) { set(style_.highlight_type, t); }
  void setHighlightInputs(bool on) { set(style_.highlight_inputs, on); }
  void setHighlightExcept(const QString& id) { set(style_.highlight_except, id); }
  int buildCount() const { return builds_; }
  int patchCount() const { return patches_; }
  int rectCount() const {
    return static_cast<int>(std::count_if(rects_.begin(), rects_.end(), [](const FarRect& r) { return !r.rect.isEmpty(); }));
  }
  const std::vector<FarRect>& rects() const { return rects_; }
  const FarNodeStyle& style() const { return style_; }
  /// What updatePaintNode hands over, built in updatePolish (tests).
  const ColoredMesh& mesh() const { return mesh_; }
  const QImage& image() const { return image_; }
  QRectF imageBounds() const { return image_bounds_; }

 signals:
  void modelChanged();
  void styleChanged();
  void built();

 protected:
  QSGNode* updatePaintNode(QSGNode* old, UpdatePaintNodeData*) override;
  void updatePolish() override;
  void itemChange(ItemChange change, const ItemChangeData& value) override;

 private:
  template <class T>
  void set(T& field, const T& v) {
    if (field == v) return;
    field = v;
    changed();
    emit styleChanged();
  }
  /// The rectangles no longer show the model: list them again before the next frame that shows them.
  void changed();
  /// The window draws with the software renderer (an image instead of a mesh).
  bool software() const;
  /// Lists the rectangles of the rows in pending_ again and patches them into rects_ and the mesh (or
  /// image) in place; false where that cannot be done (a node's count changed, out of the image, the
  /// other pass): then everything is listed again.
  bool patch();

  QPointer<NodeListModel> model_;
  QList<QMetaObject::Connection> connections_;
  FarNodeStyle style_;
  std::vector<FarRect> rects_;
  ColoredMesh mesh_;       // rects_ for hardware renderers
  QImage image_;           // rects_ for the software renderer
  QRectF image_bounds_;    // what image_ covers, canvas units
  std::vector<size_t> starts_;  // first rectangle of each row in rects_, then rects_.size()
  std::vector<int> pending_;    // rows changed since rects_ were listed or patched
  bool dirty_ = true;      // rects_ do not show the model
  bool rects_new_ = false; // mesh_ or image_ are not in the scene graph yet
  bool patch_new_ = false; // patched_ vertices (or image_) are not in the scene graph yet
  struct {
    size_t first = SIZE_MAX, last = 0;
  } patched_;  // vertices of mesh_ patched since the last hand-over
  int builds_ = 0, patches_ = 0;
};

}  // namespace lattice::editor
