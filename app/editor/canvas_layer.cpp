#include "app/editor/canvas_layer.h"

#include <QSGVertexColorMaterial>
#include <cmath>
#include <cstring>

namespace lattice::editor {

ColoredMesh::Vertex ColoredMesh::vertex(float x, float y, const QColor& c) {
  const double a = c.alphaF();
  const auto premultiplied = [a](int v) { return static_cast<uint8_t>(std::lround(v * a)); };
  return {x, y, premultiplied(c.red()), premultiplied(c.green()), premultiplied(c.blue()), static_cast<uint8_t>(c.alpha())};
}

QList<QMetaObject::Connection> canvas_layer_watch(
    QAbstractItemModel* model, QObject* receiver, const std::function<void()>& changed,
    const std::function<bool(int first, int last, const QList<int>& roles)>& rows_changed) {
  QList<QMetaObject::Connection> out;
  if (!model) return out;
  out << QObject::connect(model, &QAbstractItemModel::modelReset, receiver, changed)
      << QObject::connect(model, &QAbstractItemModel::rowsInserted, receiver, changed)
      << QObject::connect(model, &QAbstractItemModel::rowsRemoved, receiver, changed)
      << QObject::connect(model, &QAbstractItemModel::dataChanged, receiver,
                          [changed, rows_changed](const QModelIndex& top, const QModelIndex& bottom, const QList<int>& roles) {
                            if (!rows_changed || !rows_changed(top.row(), bottom.row(), roles)) changed();
                          });
  return out;
}

QSGGeometryNode* new_colored_triangles_node() {
  auto* node = new QSGGeometryNode;
  auto* g = new QSGGeometry(QSGGeometry::defaultAttributes_ColoredPoint2D(), 0, 0, QSGGeometry::UnsignedIntType);
  g->setDrawingMode(QSGGeometry::DrawTriangles);
  node->setGeometry(g);
  node->setFlag(QSGNode::OwnsGeometry);
  node->setMaterial(new QSGVertexColorMaterial);
  node->setFlag(QSGNode::OwnsMaterial);
  return node;
}

QSGGeometryNode* upload_colored_mesh(QSGNode* old, const ColoredMesh& mesh) {
  static_assert(sizeof(ColoredMesh::Vertex) == sizeof(QSGGeometry::ColoredPoint2D));
  auto* node = static_cast<QSGGeometryNode*>(old);
  if (mesh.indices.empty()) {
    delete node;
    return nullptr;
  }
  if (!node) node = new_colored_triangles_node();
  QSGGeometry* g = node->geometry();
  g->allocate(static_cast<int>(mesh.vertices.size()), static_cast<int>(mesh.indices.size()));
  std::memcpy(g->vertexData(), mesh.vertices.data(), mesh.vertices.size() * sizeof(ColoredMesh::Vertex));
  std::memcpy(g->indexData(), mesh.indices.data(), mesh.indices.size() * sizeof(uint32_t));
  // Opaque meshes skip blending and go into the renderer's opaque pass.
  node->material()->setFlag(QSGMaterial::Blending, !mesh.opaque);
  node->markDirty(QSGNode::DirtyGeometry | QSGNode::DirtyMaterial);
  return node;
}

}  // namespace lattice::editor
