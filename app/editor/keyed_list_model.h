#pragma once
/// KeyedListModel<Row>: a list model whose rows carry a stable key. sync() turns the current rows into
/// the new ones with the smallest notifications (remove gone keys, dataChanged for changed rows, append
/// new keys) so that QML delegates survive edits: a node being dragged, or a slider being moved in the
/// inspector, is never destroyed by the model refresh its own edit caused.
/// Row needs `key` (QString) and operator==. UI thread only.
///
/// Culling: a model of canvas items keeps the visible part of the canvas (setView) and answers a role
/// with whether a row's bounds meet it; a new view notifies only the rows that came into or left it, so
/// a pan or zoom re-evaluates a handful of delegate bindings, not one per row. A view that shows no items
/// (`items` false: the canvas draws its rows otherwise, zoomed far out) puts every row out of view and
/// notifies nothing while it stays so. A subclass that leaves some roles of out-of-view rows unnotified
/// (their delegates are hidden) names them in staleRoles(), and a row coming into view notifies them too.

#include <QAbstractListModel>
#include <QHash>
#include <QRectF>
#include <vector>

namespace lattice::editor {

template <class Row>
class KeyedListModel : public QAbstractListModel {
 public:
  using QAbstractListModel::QAbstractListModel;
  int rowCount(const QModelIndex& parent = {}) const override {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
  }
  const std::vector<Row>& rows() const { return rows_; }
  /// The row of `key`, or -1. O(1) for a key present: state reports look up every node of a run (500 nodes,
  /// several reports each, docs/performance.md "while a model runs"), where a scan made them quadratic.
  int indexOf(const QString& key) const {
    const auto it = index_.constFind(key);
    if (it != index_.cend() && *it < rows_.size() && rows_[*it].key == key) return static_cast<int>(*it);
    // Not indexed, or the rows changed since (subclasses may replace rows_ directly): rebuild. A key that
    // is not there costs a rebuild, as much as the scan this replaced.
    index_.clear();
    int found = -1;
    for (size_t i = 0; i < rows_.size(); ++i) {
      index_.insert(rows_[i].key, i);
      if (rows_[i].key == key) found = static_cast<int>(i);
    }
    return found;
  }

 protected:
  void sync(std::vector<Row> next) {
    QHash<QString, size_t> wanted;
    for (size_t i = 0; i < next.size(); ++i) wanted.insert(next[i].key, i);
    for (int i = static_cast<int>(rows_.size()) - 1; i >= 0; --i) {
      if (wanted.contains(rows_[i].key)) continue;
      beginRemoveRows({}, i, i);
      rows_.erase(rows_.begin() + i);
      endRemoveRows();
    }
    QHash<QString, size_t> have;
    for (size_t i = 0; i < rows_.size(); ++i) {
      have.insert(rows_[i].key, i);
      Row& fresh = next[wanted.value(rows_[i].key)];
      if (!(rows_[i] == fresh)) {
        rows_[i] = std::move(fresh);
        emit dataChanged(index(static_cast<int>(i)), index(static_cast<int>(i)));
      }
    }
    std::vector<Row> added;
    for (auto& r : next)
      if (!have.contains(r.key)) added.push_back(std::move(r));
    if (added.empty()) return;
    const int first = static_cast<int>(rows_.size());
    beginInsertRows({}, first, first + static_cast<int>(added.size()) - 1);
    for (auto& r : added) rows_.push_back(std::move(r));
    endInsertRows();
  }
  void rowChanged(int i, const QList<int>& roles = {}) { emit dataChanged(index(i), index(i), roles); }

  /// A null `view` shows everything. `bounds(row)` is a row's rectangle in the view's units. With `items`
  /// false no row is in view, whatever `view` is.
  template <class Bounds>
  void setView(const QRectF& view, int role, Bounds bounds, bool items = true) {
    if (view == view_ && items == items_) return;
    const QRectF old = view_;
    const bool old_items = items_;
    view_ = view;
    items_ = items;
    if (!old_items && !items) return;
    for (size_t i = 0; i < rows_.size(); ++i) {
      const QRectF b = bounds(rows_[i]);
      const bool now = items && meets(view_, b);
      if ((old_items && meets(old, b)) == now) continue;
      QList<int> roles{role};
      if (now) roles += staleRoles(static_cast<int>(i));
      rowChanged(static_cast<int>(i), roles);
    }
  }
  /// Roles of row `row`, coming into view now, that changed while it was out of view and were not notified
  /// then; the row counts as up to date afterwards. None by default.
  virtual QList<int> staleRoles(int row) {
    Q_UNUSED(row);
    return {};
  }
  bool inView(const QRectF& bounds) const { return items_ && meets(view_, bounds); }

  std::vector<Row> rows_;

 private:
  static bool meets(const QRectF& view, const QRectF& b) {
    return view.isNull() || (b.right() >= view.left() && b.left() <= view.right() && b.bottom() >= view.top() &&
                             b.top() <= view.bottom());
  }
  QRectF view_;
  bool items_ = true;
  mutable QHash<QString, size_t> index_;  // key -> row, a cache (see indexOf)
};

}  // namespace lattice::editor
