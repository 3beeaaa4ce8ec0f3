#pragma once
/// ParamListModel: the inspector's rows, one per parameter of the current node, with everything an
/// editor widget needs (type, value, default, range, choices). Values are edited through
/// GraphDocument::setParam, never here. UI thread only.

#include <QStringList>
#include <QtQml/qqmlregistration.h>

#include "app/editor/keyed_list_model.h"
#include "core/graph.h"

namespace lattice::editor {

struct ParamRow {
  QString key;  ///< parameter name
  QString type, description;
  QVariant value, defaultValue;
  bool isExplicit = false;
  double min = 0, max = 0;
  bool hasMin = false, hasMax = false;
  QStringList choices;
  bool operator==(const ParamRow&) const = default;
};

class ParamListModel : public KeyedListModel<ParamRow> {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("ParamListModel belongs to a GraphDocument")
 public:
  enum Role { NameRole = Qt::UserRole + 1, TypeRole, DescriptionRole, ValueRole, DefaultRole, ExplicitRole,
              MinRole, MaxRole, HasMinRole, HasMaxRole, ChoicesRole };
  using KeyedListModel::KeyedListModel;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;
  /// Shows the parameters of `node` (null: none).
  void setNode(const Node* node, const NodeRegistry& reg = NodeRegistry::instance());
};

}  // namespace lattice::editor
