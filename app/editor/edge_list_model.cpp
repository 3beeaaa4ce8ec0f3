#include "app/editor/edge_list_model.h"

#include "app/editor/node_list_model.h"
#include "app/editor/param_value.h"

namespace lattice::editor {

QVariant EdgeListModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  const EdgeRow& r = rows_[static_cast<size_t>(index.row())];
  switch (role) {
    case FromIdRole: return r.fromId;
    case FromPortRole: return r.fromPort;
    case ToIdRole: return r.toId;
    case ToPortRole: return r.toPort;
    case TypeRole: return r.type;
    case ColorRole: return r.color;
    case X1Role: return r.from.x();
    case Y1Role: return r.from.y();
    case X2Role: return r.to.x();
    case Y2Role: return r.to.y();
    default: return {};
  }
}

QHash<int, QByteArray> EdgeListModel::roleNames() const {
  return {{FromIdRole, "fromId"}, {FromPortRole, "fromPort"}, {ToIdRole, "toId"}, {ToPortRole, "toPort"},
          {TypeRole, "type"},     {ColorRole, "color"},       {X1Role, "x1"},     {Y1Role, "y1"},
          {X2Role, "x2"},         {Y2Role, "y2"}};
}

void EdgeListModel::setGraph(const Graph& g, const NodeListModel& nodes, const NodeRegistry& reg) {
  std::vector<EdgeRow> next;
  for (const auto& n : g.nodes) {
    for (const auto& [port, c] : n.inputs) {
      EdgeRow r;
      r.key = qstr(n.id) + QLatin1Char('.') + qstr(port);
      r.fromId = qstr(c.node);
      r.fromPort = qstr(c.output);
      r.toId = qstr(n.id);
      r.toPort = qstr(port);
      const auto a = nodes.portPosition(r.fromId, r.fromPort, true);
      const auto b = nodes.portPosition(r.toId, r.toPort, false);
      if (!a || !b) continue;  // a dangling connection (unknown port) is reported by validation, not drawn
      r.from = *a;
      r.to = *b;
      if (const NodeDesc* d = reg.find(n.type))
        if (const PortDesc* p = d->input(port)) {
          r.type = qstr(std::string(port_type_name(p->type)));
          r.color = port_color(p->type);
        }
      next.push_back(std::move(r));
    }
  }
  sync(std::move(next));
}

}  // namespace lattice::editor
