#pragma once
/// NodeListModel: one row per node of the document's graph, with what the canvas draws (title, position,
/// size, ports with their colours, a parameter summary) and the node's evaluation state. The geometry
/// of a node (NodeLayout) is decided here so that wires (EdgeListModel) and nodes agree; QML only draws it.
/// Rows are refreshed by GraphDocument after every change; the state roles by the Evaluator's reports.
/// UI thread only.

#include <QPointF>
#include <QSet>
#include <QVariantList>
#include <QtQml/qqmlregistration.h>
#include <set>
#include <string>

#include "app/editor/keyed_list_model.h"
#include "app/editor/node_state.h"
#include "core/graph.h"

namespace lattice::editor {

/// Canvas geometry of nodes, in canvas units.
struct NodeLayout {
  static constexpr double kWidth = 180, kHeader = 26, kPortRow = 20, kSummaryLine = 15, kFooter = 24;
  static constexpr int kSummaryLines = 3;
  /// Height of a node with this many port rows and summary lines.
  static double height(int port_rows, int summary_lines);
  /// Centre of input (or output) port `index` of a node whose top-left is `pos`.
  static QPointF port(QPointF pos, int index, bool output);
};

struct NodeRow {
  QString key;  ///< node id
  QString type, category;
  QPointF pos;
  double height = 0;
  QVariantList inputs, outputs;  ///< [{name, type, color, optional, connected}]
  QString summary;
  bool known = true;  ///< the registry knows the type
  bool operator==(const NodeRow&) const = default;
};

class NodeListModel : public KeyedListModel<NodeRow> {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("NodeListModel belongs to a GraphDocument")
 public:
  enum Role {
    IdRole = Qt::UserRole + 1, TypeRole, CategoryRole, XRole, YRole, WidthRole, HeightRole, InputsRole,
    OutputsRole, SummaryRole, KnownRole, SelectedRole, StateRole, ProgressRole, MessageRole, InViewRole,
  };
  using KeyedListModel::KeyedListModel;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  /// Rows for the nodes of `g`. With `touched`, only the rows of those nodes (and of nodes new to the model)
  /// are made again; the others are kept as they are (an edit of one node among 500 rebuilt every row's
  /// ports and summary).
  void setGraph(const Graph& g, const NodeRegistry& reg = NodeRegistry::instance(),
                const std::set<std::string>* touched = nullptr);
  void setSelection(const QSet<QString>& ids);
  /// The visible part of the canvas (canvas units; a null rect: everything): role inView says whether a
  /// node meets it. `items` false (zoomed far out, FarNodeLayer draws every node): no node is in view, so
  /// no node delegate is shown. See KeyedListModel::setView.
  Q_INVOKABLE void setViewRect(const QRectF& view, bool items = true) { setView(view, InViewRole, bounds, items); }
  static QRectF bounds(const NodeRow& r) { return {r.pos, QSizeF(NodeLayout::kWidth, r.height)}; }

  /// Evaluation state of one node: "idle", "dirty", "queued", "running", "done", "cached", "failed",
  /// "invalid" or "blocked"; progress in [0, 1]; message = error text or progress message.
  void setState(const QString& id, const QString& state, double progress = 0, const QString& message = {});
  /// Applies `reports` in order (a node may have several; its last one stands), then notifies each run of
  /// consecutive rows whose state ended up different: statesChanged for every such run, and dataChanged
  /// (state, progress and message roles) for the rows in view only. A run's 500 reports that arrive
  /// together repaint each node once, not once per report; and rows out of view (their delegates are
  /// hidden; zoomed far out, every row) cost their delegates nothing: 504 delegates re-evaluating their
  /// state bindings was the first run's ~40 ms burst on the UI thread (docs/performance.md, "while a
  /// model runs"). Such a row notifies its state roles when it comes into view (staleRoles). Reports
  /// about unknown nodes are ignored.
  void setStates(const NodeStateReports& reports);
  QString state(const QString& id) const { return states_.value(id).state; }
  Q_INVOKABLE QString message(const QString& id) const { return states_.value(id).message; }
  double progress(const QString& id) const { return states_.value(id).progress; }
  bool selected(const QString& id) const { return selection_.contains(id); }
  /// Port centre in canvas units, for wires; null when the node or port is unknown.
  std::optional<QPointF> portPosition(const QString& id, const QString& port, bool output) const;

 signals:
  /// Rows [first, last] have a new state, progress or message, in view or not (what draws or reads every
  /// row's state, as FarNodeLayer and the far canvas's hover message, follows this, not dataChanged).
  void statesChanged(int first, int last);

 protected:
  QList<int> staleRoles(int row) override;

 private:
  struct State {
    QString state = QStringLiteral("idle");
    double progress = 0;
    QString message;
    bool operator==(const State&) const = default;
  };
  QHash<QString, State> states_;
  QSet<QString> selection_;
  QSet<QString> stale_;  // nodes whose state changed while out of view, not yet notified by dataChanged
};

}  // namespace lattice::editor
