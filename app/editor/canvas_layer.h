#pragma once
/// What the canvas's one-geometry layers (WireLayer, FarNodeLayer) share: following a list model's rows,
/// the mesh they build on the UI thread (triangles with a premultiplied colour per vertex), and the
/// scene-graph node the render thread copies it into.
/// Threading: canvas_layer_watch and building a ColoredMesh on the UI thread (in updatePolish);
/// new_colored_triangles_node and upload_colored_mesh on the render thread (in updatePaintNode, while the
/// UI thread is blocked).

#include <QAbstractItemModel>
#include <QColor>
#include <QList>
#include <QSGGeometryNode>
#include <QSGMaterial>
#include <cstdint>
#include <functional>
#include <vector>

namespace lattice::editor {

/// Indexed triangles in canvas units, as QSGGeometry::ColoredPoint2D vertices and 32-bit indices.
struct ColoredMesh {
  struct Vertex {
    float x, y;
    uint8_t r, g, b, a;  ///< premultiplied
  };
  std::vector<Vertex> vertices;
  std::vector<uint32_t> indices;
  bool opaque = true;  ///< every colour is opaque: the renderer's opaque pass, no blending

  /// A vertex at (x, y) of colour `c` (premultiplied here).
  static Vertex vertex(float x, float y, const QColor& c);
};

/// Calls `changed` (in `receiver`'s context) whenever `model`'s rows are reset, inserted, removed or
/// changed. `rows_changed`, if given, sees each dataChanged first (first row, last row, roles) and
/// returns whether it dealt with it (then `changed` is not called).
QList<QMetaObject::Connection> canvas_layer_watch(
    QAbstractItemModel* model, QObject* receiver, const std::function<void()>& changed,
    const std::function<bool(int first, int last, const QList<int>& roles)>& rows_changed = {});

/// A geometry node of indexed triangles (32-bit indices) with a colour per vertex, owning its geometry and
/// material; the material blends until told otherwise.
QSGGeometryNode* new_colored_triangles_node();

/// `mesh` in the scene graph: `old` (a node from new_colored_triangles_node, or null: one is made) with
/// all of `mesh` copied in; null (and `old` deleted) for an empty mesh.
QSGGeometryNode* upload_colored_mesh(QSGNode* old, const ColoredMesh& mesh);

}  // namespace lattice::editor
