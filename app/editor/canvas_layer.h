#pragma once
/// What the canvas's one-geometry layers (WireLayer, FarNodeLayer) share: following a list model's rows,
/// and the scene-graph node they draw into (triangles with a colour per vertex).
/// Threading: canvas_layer_watch on the UI thread; new_colored_triangles_node on the render thread.

#include <QAbstractItemModel>
#include <QList>
#include <QSGGeometryNode>
#include <QSGMaterial>
#include <functional>

namespace lattice::editor {

/// Calls `changed` (in `receiver`'s context) whenever `model`'s rows are reset, inserted, removed or
/// changed, except a dataChanged of exactly `ignored_roles` (e.g. a culling role the layer does not draw).
QList<QMetaObject::Connection> canvas_layer_watch(QAbstractItemModel* model, QObject* receiver,
                                                  const std::function<void()>& changed, const QList<int>& ignored_roles = {});

/// A geometry node of indexed triangles (32-bit indices) with a colour per vertex, owning its geometry and
/// material; the material blends until told otherwise.
QSGGeometryNode* new_colored_triangles_node();

}  // namespace lattice::editor
