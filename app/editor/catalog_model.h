#pragma once
/// CatalogModel: the node palette. Rows come from NodeRegistry::catalogue() (never from a list written
/// here), grouped by category; `filter` keeps the types that fuzzy-match it, best category first and best
/// match first within a category. UI thread only.

#include <QtQml/qqmlregistration.h>

#include "app/editor/keyed_list_model.h"
#include "core/node.h"

namespace lattice::editor {

/// Fuzzy score of `pattern` against `text`: -1 when the characters of `pattern` do not all appear in
/// order (case-insensitive); otherwise higher for matches at word starts, runs of adjacent characters and
/// a match at the start.
int fuzzy_score(const QString& pattern, const QString& text);

struct CatalogRow {
  QString key;  ///< node type
  QString category, description, ports;
  int score = 0;
  bool operator==(const CatalogRow&) const = default;
};

class CatalogModel : public KeyedListModel<CatalogRow> {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("CatalogModel belongs to a GraphDocument")
  Q_PROPERTY(QString filter READ filter WRITE setFilter NOTIFY filterChanged)
  Q_PROPERTY(int count READ count NOTIFY countChanged)
 public:
  enum Role { TypeRole = Qt::UserRole + 1, CategoryRole, DescriptionRole, PortsRole };
  explicit CatalogModel(QObject* parent = nullptr, const NodeRegistry& reg = NodeRegistry::instance());
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  QString filter() const { return filter_; }
  void setFilter(const QString& f);
  int count() const { return rowCount(); }
  /// The node type at `row` of the filtered list, or "".
  Q_INVOKABLE QString typeAt(int row) const;

 signals:
  void filterChanged();
  void countChanged();

 private:
  void refilter();
  std::vector<CatalogRow> all_;
  QString filter_;
};

}  // namespace lattice::editor
