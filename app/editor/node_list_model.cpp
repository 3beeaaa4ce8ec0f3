#include "app/editor/node_list_model.h"

#include <QVariantMap>
#include <algorithm>

#include "app/editor/graph_edits.h"
#include "app/editor/param_value.h"

namespace lattice::editor {

double NodeLayout::height(int port_rows, int summary_lines) {
  return kHeader + port_rows * kPortRow + summary_lines * kSummaryLine + kFooter;
}

QPointF NodeLayout::port(QPointF pos, int index, bool output) {
  return {pos.x() + (output ? kWidth : 0), pos.y() + kHeader + index * kPortRow + kPortRow / 2};
}

QVariant NodeListModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  const NodeRow& r = rows_[static_cast<size_t>(index.row())];
  switch (role) {
    case IdRole: return r.key;
    case TypeRole: return r.type;
    case CategoryRole: return r.category;
    case XRole: return r.pos.x();
    case YRole: return r.pos.y();
    case WidthRole: return NodeLayout::kWidth;
    case HeightRole: return r.height;
    case InputsRole: return r.inputs;
    case OutputsRole: return r.outputs;
    case SummaryRole: return r.summary;
    case KnownRole: return r.known;
    case SelectedRole: return selection_.contains(r.key);
    case StateRole: return states_.value(r.key).state;
    case ProgressRole: return states_.value(r.key).progress;
    case MessageRole: return states_.value(r.key).message;
    case InViewRole: return inView(bounds(r));
    default: return {};
  }
}

QHash<int, QByteArray> NodeListModel::roleNames() const {
  return {{IdRole, "nodeId"},       {TypeRole, "type"},       {CategoryRole, "category"}, {XRole, "x"},
          {YRole, "y"},             {WidthRole, "width"},     {HeightRole, "height"},     {InputsRole, "inputs"},
          {OutputsRole, "outputs"}, {SummaryRole, "summary"}, {KnownRole, "known"},       {SelectedRole, "selected"},
          {StateRole, "state"},     {ProgressRole, "progress"}, {MessageRole, "message"},
          {InViewRole, "inView"}};
}

void NodeListModel::setGraph(const Graph& g, const NodeRegistry& reg, const std::set<std::string>* touched) {
  std::vector<NodeRow> next;
  next.reserve(g.nodes.size());
  for (const auto& n : g.nodes) {
    NodeRow r;
    r.key = qstr(n.id);
    if (touched && !touched->count(n.id)) {
      if (const int i = indexOf(r.key); i >= 0) {
        next.push_back(rows_[static_cast<size_t>(i)]);
        continue;
      }
    }
    r.type = qstr(n.type);
    const auto pos = node_position(n).value_or(std::pair{0.0, 0.0});
    r.pos = {pos.first, pos.second};
    const NodeDesc* d = reg.find(n.type);
    r.known = d != nullptr;
    int summary_lines = 0;
    if (d) {
      r.category = qstr(d->category);
      auto ports = [&](const std::vector<PortDesc>& ps, bool inputs) {
        QVariantList l;
        for (const auto& p : ps)
          l.push_back(QVariantMap{{"name", qstr(p.name)},
                                  {"type", qstr(std::string(port_type_name(p.type)))},
                                  {"color", port_color(p.type)},
                                  {"optional", p.optional},
                                  {"connected", inputs && n.inputs.count(p.name) != 0}});
        return l;
      };
      r.inputs = ports(d->inputs, true);
      r.outputs = ports(d->outputs, false);
      QStringList lines;
      for (const auto& p : d->params) {
        if (lines.size() == NodeLayout::kSummaryLines) break;
        auto it = n.params.find(p.name);
        const Json& v = it != n.params.end() ? *it : p.default_value;
        lines << qstr(p.name) + QStringLiteral(": ") + short_value_text(v);
      }
      summary_lines = static_cast<int>(lines.size());
      r.summary = lines.join(QLatin1Char('\n'));
    } else {
      r.summary = QStringLiteral("unknown node type");
      summary_lines = 1;
    }
    const int port_rows = static_cast<int>(std::max(r.inputs.size(), r.outputs.size()));
    r.height = NodeLayout::height(port_rows, summary_lines);
    next.push_back(std::move(r));
  }
  sync(std::move(next));
  for (auto it = states_.begin(); it != states_.end();)
    it = indexOf(it.key()) < 0 ? states_.erase(it) : std::next(it);
  for (auto it = stale_.begin(); it != stale_.end();)
    it = indexOf(*it) < 0 ? stale_.erase(it) : std::next(it);
}

void NodeListModel::setSelection(const QSet<QString>& ids) {
  const QSet<QString> changed = (ids - selection_) + (selection_ - ids);
  selection_ = ids;
  for (const auto& id : changed)
    if (int i = indexOf(id); i >= 0) rowChanged(i, {SelectedRole});
}

void NodeListModel::setState(const QString& id, const QString& state, double progress, const QString& message) {
  setStates({{id, state, progress, message}});
}

void NodeListModel::setStates(const NodeStateReports& reports) {
  QHash<int, State> before;  // row -> its state before the first report about it
  for (const auto& r : reports) {
    const int i = indexOf(r.id);
    if (i < 0) continue;
    State& s = states_[r.id];
    const State next{r.state, r.progress, r.message};
    if (s == next) continue;
    if (!before.contains(i)) before.insert(i, s);
    s = next;
  }
  std::vector<int> changed;
  for (auto it = before.cbegin(); it != before.cend(); ++it)
    if (!(states_.value(rows_[static_cast<size_t>(it.key())].key) == it.value())) changed.push_back(it.key());
  std::sort(changed.begin(), changed.end());
  // Runs of consecutive rows: [a, b] of `rows`, each given to `emit_run(first row, last row)`.
  const auto runs = [](const std::vector<int>& rows, const auto& emit_run) {
    for (size_t a = 0; a < rows.size();) {
      size_t b = a;
      while (b + 1 < rows.size() && rows[b + 1] == rows[b] + 1) ++b;
      emit_run(rows[a], rows[b]);
      a = b + 1;
    }
  };
  runs(changed, [this](int first, int last) { emit statesChanged(first, last); });
  std::vector<int> shown;
  for (const int i : changed) {
    const NodeRow& r = rows_[static_cast<size_t>(i)];
    if (inView(bounds(r))) shown.push_back(i);
    else stale_.insert(r.key);
  }
  const QList<int> roles{StateRole, ProgressRole, MessageRole};
  runs(shown, [&](int first, int last) { emit dataChanged(index(first), index(last), roles); });
}

QList<int> NodeListModel::staleRoles(int row) {
  if (!stale_.remove(rows_[static_cast<size_t>(row)].key)) return {};
  return {StateRole, ProgressRole, MessageRole};
}

std::optional<QPointF> NodeListModel::portPosition(const QString& id, const QString& port, bool output) const {
  const int i = indexOf(id);
  if (i < 0) return std::nullopt;
  const NodeRow& r = rows_[static_cast<size_t>(i)];
  const QVariantList& ports = output ? r.outputs : r.inputs;
  for (int k = 0; k < ports.size(); ++k)
    if (ports[k].toMap().value("name").toString() == port) return NodeLayout::port(r.pos, k, output);
  return std::nullopt;
}

}  // namespace lattice::editor
