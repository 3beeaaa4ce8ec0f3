#pragma once
/// NodeStateReport: one evaluation report about one node (its state, progress and message), as the
/// Evaluator's worker makes it and NodeListModel::setStates applies it. Reports travel in batches, in the
/// order the worker made them; applying a batch in order leaves every node in its last reported state.

#include <QList>
#include <QString>

namespace lattice::editor {

struct NodeStateReport {
  QString id;     ///< node id
  QString state;  ///< queued, running, done, cached, failed, blocked, ... (see NodeListModel::setState)
  double progress = 0;
  QString message;
  bool operator==(const NodeStateReport&) const = default;
};

using NodeStateReports = QList<NodeStateReport>;

}  // namespace lattice::editor
