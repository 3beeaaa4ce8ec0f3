#pragma once
/// EdgeListModel: one row per connection (an input port fed by an upstream output), with the end points
/// in canvas units taken from NodeListModel's geometry and the wire colour of its port type.
/// UI thread only; refreshed by GraphDocument after every change. Wires are not culled: WireLayer draws
/// them all as one geometry and the rasterizer clips what is out of view.

#include <QColor>
#include <QPointF>
#include <QtQml/qqmlregistration.h>
#include <algorithm>
#include <cmath>

#include "app/editor/keyed_list_model.h"
#include "core/graph.h"

namespace lattice::editor {

class NodeListModel;

struct EdgeRow {
  QString key;  ///< "toId.toPort"
  QString fromId, fromPort, toId, toPort, type;
  QColor color;
  QPointF from, to;
  bool operator==(const EdgeRow&) const = default;
};

class EdgeListModel : public KeyedListModel<EdgeRow> {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("EdgeListModel belongs to a GraphDocument")
 public:
  enum Role { FromIdRole = Qt::UserRole + 1, FromPortRole, ToIdRole, ToPortRole, TypeRole, ColorRole,
              X1Role, Y1Role, X2Role, Y2Role };
  using KeyedListModel::KeyedListModel;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;
  void setGraph(const Graph& g, const NodeListModel& nodes, const NodeRegistry& reg = NodeRegistry::instance());
  /// How far a wire's curve reaches sideways beyond its ends (the canvas draws it with this bend).
  static double bend(const EdgeRow& r) { return std::max(40.0, std::abs(r.to.x() - r.from.x()) / 2); }
};

}  // namespace lattice::editor
