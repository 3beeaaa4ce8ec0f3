#pragma once
/// WireLayer: all wires of the canvas as one scene-graph geometry node (triangles with a colour per
/// vertex), built from an EdgeListModel when its rows change, never on a pan or zoom: the layer lives in
/// the canvas content, which the canvas scales and moves as one item. Each wire is the cubic curve the
/// editor always drew (horizontal tangents, EdgeListModel::bend), stroked `lineWidth` canvas units wide.
///
/// Why: one QML Shape per wire was one scene-graph node and one draw call each, and every culling change
/// rebuilt the renderer's batches (docs/performance.md, editor canvas). The rasterizer clips wires that
/// are out of view; a few tens of thousands of vertices cost less than one draw call per wire.
///
/// Threading: UI thread (the mesh is built in updatePolish); updatePaintNode copies it into the node on the
/// render thread while the UI thread is blocked.

#include <QPointF>
#include <QPointer>
#include <QQuickItem>
#include <QtQml/qqmlregistration.h>
#include <vector>

#include "app/editor/canvas_layer.h"
#include "app/editor/edge_list_model.h"

namespace lattice::editor {

/// Triangles of the stroked wires, in canvas units.
using WireMesh = ColoredMesh;

/// Points along a wire from `from` to `to` (ends included), as the canvas draws it; `coarse`: fewer, for
/// when the canvas is zoomed far out.
std::vector<QPointF> wire_curve(QPointF from, QPointF to, double bend, bool coarse = false);
/// The mesh of `rows`' wires, `width` canvas units wide.
WireMesh wire_mesh(const std::vector<EdgeRow>& rows, double width, bool coarse = false);

class WireLayer : public QQuickItem {
  Q_OBJECT
  QML_ELEMENT
  Q_PROPERTY(lattice::editor::EdgeListModel* model READ model WRITE setModel NOTIFY modelChanged)
  Q_PROPERTY(qreal lineWidth MEMBER line_width_ WRITE setLineWidth NOTIFY modelChanged)
  /// How often the geometry was built (tests: a pan or zoom builds nothing).
  Q_PROPERTY(int buildCount READ buildCount NOTIFY built)
  /// Triangles in the mesh shown (tests).
  Q_PROPERTY(int triangleCount READ triangleCount NOTIFY built)
  /// Zoomed far out (NodeCanvas.qml `far`): wires with fewer segments (wire_curve), a second mesh kept
  /// beside the first, so that crossing back and forth builds each once.
  Q_PROPERTY(bool coarse READ coarse WRITE setCoarse NOTIFY coarseChanged)

 public:
  explicit WireLayer(QQuickItem* parent = nullptr);
  EdgeListModel* model() const { return model_; }
  void setModel(EdgeListModel* m);
  void setLineWidth(qreal w);
  int buildCount() const { return builds_; }
  int triangleCount() const { return static_cast<int>(meshes_[coarse_ ? 1 : 0].indices.size() / 3); }
  bool coarse() const { return coarse_; }
  void setCoarse(bool on);

 signals:
  void modelChanged();
  void built();
  void coarseChanged();

 protected:
  QSGNode* updatePaintNode(QSGNode* old, UpdatePaintNodeData*) override;
  void updatePolish() override;

 private:
  void rowsChanged();

  QPointer<EdgeListModel> model_;
  QList<QMetaObject::Connection> connections_;
  qreal line_width_ = 2.5;
  bool coarse_ = false;
  bool dirty_[2] = {true, true};  // meshes_[i] does not show the model's rows
  bool mesh_new_ = false;         // the mesh shown is not in the scene graph yet
  WireMesh meshes_[2];            // full, coarse
  int builds_ = 0;
};

}  // namespace lattice::editor
