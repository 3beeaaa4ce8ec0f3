#include "app/editor/canvas_layer.h"

#include <QSGVertexColorMaterial>

namespace lattice::editor {

QList<QMetaObject::Connection> canvas_layer_watch(QAbstractItemModel* model, QObject* receiver,
                                                  const std::function<void()>& changed, const QList<int>& ignored_roles) {
  QList<QMetaObject::Connection> out;
  if (!model) return out;
  out << QObject::connect(model, &QAbstractItemModel::modelReset, receiver, changed)
      << QObject::connect(model, &QAbstractItemModel::rowsInserted, receiver, changed)
      << QObject::connect(model, &QAbstractItemModel::rowsRemoved, receiver, changed)
      << QObject::connect(model, &QAbstractItemModel::dataChanged, receiver,
                          [changed, ignored_roles](const QModelIndex&, const QModelIndex&, const QList<int>& roles) {
                            if (ignored_roles.isEmpty() || roles != ignored_roles) changed();
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

}  // namespace lattice::editor
