#include "app/editor/param_list_model.h"

#include <cmath>

#include "app/editor/param_value.h"

namespace lattice::editor {

QVariant ParamListModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  const ParamRow& r = rows_[static_cast<size_t>(index.row())];
  switch (role) {
    case NameRole: return r.key;
    case TypeRole: return r.type;
    case DescriptionRole: return r.description;
    case ValueRole: return r.value;
    case DefaultRole: return r.defaultValue;
    case ExplicitRole: return r.isExplicit;
    case MinRole: return r.min;
    case MaxRole: return r.max;
    case HasMinRole: return r.hasMin;
    case HasMaxRole: return r.hasMax;
    case ChoicesRole: return r.choices;
    default: return {};
  }
}

QHash<int, QByteArray> ParamListModel::roleNames() const {
  return {{NameRole, "name"},       {TypeRole, "type"},         {DescriptionRole, "description"},
          {ValueRole, "value"},     {DefaultRole, "defaultValue"}, {ExplicitRole, "isExplicit"},
          {MinRole, "min"},         {MaxRole, "max"},           {HasMinRole, "hasMin"},
          {HasMaxRole, "hasMax"},   {ChoicesRole, "choices"}};
}

void ParamListModel::setNode(const Node* node, const NodeRegistry& reg) {
  std::vector<ParamRow> next;
  const NodeDesc* d = node ? reg.find(node->type) : nullptr;
  if (d) {
    for (const auto& p : d->params) {
      ParamRow r;
      r.key = qstr(p.name);
      r.type = qstr(std::string(param_type_name(p.type)));
      r.description = qstr(p.description);
      auto it = node->params.find(p.name);
      r.isExplicit = it != node->params.end();
      r.value = param_to_variant(p, r.isExplicit ? *it : p.default_value);
      r.defaultValue = param_to_variant(p, p.default_value);
      r.hasMin = std::isfinite(p.min);
      r.hasMax = std::isfinite(p.max);
      r.min = r.hasMin ? p.min : 0;
      r.max = r.hasMax ? p.max : 0;
      for (const auto& c : p.choices) r.choices << qstr(c);
      next.push_back(std::move(r));
    }
  }
  sync(std::move(next));
}

}  // namespace lattice::editor
