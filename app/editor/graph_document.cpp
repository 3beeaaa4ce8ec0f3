#include "app/editor/graph_document.h"

#include <QClipboard>
#include <QDir>
#include <QFileInfo>
#include <QGuiApplication>
#include <QRandomGenerator>
#include <QUndoCommand>
#include <QUrl>
#include <cmath>
#include <string_view>
#include <unordered_map>

#include "app/editor/graph_edits.h"
#include "app/editor/param_value.h"
#include "app/install_paths.h"
#include "core/document.h"
#include "core/error.h"

namespace lattice::editor {

namespace {

/// One undo step: the graph before and after. Storing whole graphs keeps undo exact (the JSON after undo
/// is the JSON before the edit, unknown keys and key order included) with no per-edit inverse logic to get
/// wrong; editor graphs are small (hundreds of nodes at most), so the copies are cheap.
class GraphCommand final : public QUndoCommand {
 public:
  GraphCommand(GraphDocument* doc, Graph before, Graph after, const QString& text, QString merge_key)
      : QUndoCommand(text), doc_(doc), before_(std::move(before)), after_(std::move(after)), key_(std::move(merge_key)) {}
  void undo() override { doc_->applyGraph(before_); }
  void redo() override { doc_->applyGraph(after_); }
  int id() const override { return key_.isEmpty() ? -1 : 1; }
  bool mergeWith(const QUndoCommand* other) override {
    const auto* o = static_cast<const GraphCommand*>(other);
    if (key_.isEmpty() || o->key_ != key_) return false;
    after_ = o->after_;
    return true;
  }

 private:
  GraphDocument* doc_;
  Graph before_, after_;
  QString key_;
};

std::vector<std::string> to_std(const QStringList& l) {
  std::vector<std::string> v;
  for (const auto& s : l) v.push_back(sstr(s));
  return v;
}

QString local_path(const QString& pathOrUrl) {
  if (pathOrUrl.startsWith(QStringLiteral("file:"))) return QUrl(pathOrUrl).toLocalFile();
  return pathOrUrl;
}

/// What evaluation depends on: everything but the editor's `ui` data.
bool same_for_evaluation(const Node& a, const Node& b) {
  return a.type == b.type && a.params == b.params && a.inputs == b.inputs;
}

}  // namespace

GraphDocument::GraphDocument(QObject* parent)
    : QObject(parent), evaluator_(new Evaluator(this)), autosave_(new Autosaver(this)), recent_(new RecentFiles(this)) {
  connect(&undo_, &QUndoStack::cleanChanged, this, &GraphDocument::dirtyChanged);
  connect(&undo_, &QUndoStack::indexChanged, this, &GraphDocument::undoStateChanged);
  connect(&undo_, &QUndoStack::canUndoChanged, this, &GraphDocument::undoStateChanged);
  connect(&undo_, &QUndoStack::canRedoChanged, this, &GraphDocument::undoStateChanged);
  run_timer_.setSingleShot(true);
  run_timer_.setInterval(150);  // debounce: a burst of edits (a drag) runs once when it pauses
  connect(&run_timer_, &QTimer::timeout, this, [this] { startRun(false); });
  connect(evaluator_, &Evaluator::nodeStates, &nodes_, &NodeListModel::setStates);
  connect(evaluator_, &Evaluator::finished, this, [this](bool, const QString&) {
    // Nodes still queued never ran: something upstream failed.
    NodeStateReports blocked;
    for (const auto& r : nodes_.rows())
      if (nodes_.state(r.key) == QLatin1String("queued") || nodes_.state(r.key) == QLatin1String("running"))
        blocked.push_back({r.key, QStringLiteral("blocked"), 0, QStringLiteral("an upstream node failed")});
    nodes_.setStates(blocked);
  });
  connect(this, &GraphDocument::selectionChanged, this, [this] {
    if (inspected_ == currentNode()) return;
    inspected_ = currentNode();
    refreshParams();
    emit currentChanged();
    if (auto_run_) run_timer_.start();  // the viewer follows the current node
  });
}

GraphDocument::~GraphDocument() {
  evaluator_->cancel();
  // A clean close (the user saved or discarded): nothing to recover. A crash never gets here.
  autosave_->discard();
}

bool GraphDocument::fail(const QString& message) {
  last_error_ = message;
  emit lastErrorChanged();
  return false;
}

bool GraphDocument::commit(Graph next, const QString& text, const QString& merge_key) {
  if (read_only_)
    return fail(QStringLiteral("%1 is open read-only: another editor has it open (%2). Choose Edit Anyway to change it "
                               "here, or Save As to keep a copy").arg(displayName(), open_elsewhere_));
  undo_.push(new GraphCommand(this, graph_, std::move(next), text, merge_key));
  if (!last_error_.isEmpty()) {
    last_error_.clear();
    emit lastErrorChanged();
  }
  return true;
}

void GraphDocument::applyGraph(const Graph& g) {
  // By id, once: Graph::find scans, and 500 nodes made these loops quadratic (docs/performance.md).
  std::unordered_map<std::string_view, const Node*> before;
  for (const auto& n : graph_.nodes) before.emplace(n.id, &n);
  std::set<std::string> changed, touched;  // what evaluation sees / anything the canvas shows
  size_t kept_nodes = 0;
  for (const auto& n : g.nodes) {
    const auto it = before.find(n.id);
    const Node* old = it == before.end() ? nullptr : it->second;
    kept_nodes += old != nullptr;
    const bool evaluation_changed = !old || !same_for_evaluation(*old, n);
    if (evaluation_changed) changed.insert(n.id);
    if (evaluation_changed || old->ui != n.ui) touched.insert(n.id);
  }
  const bool removed = kept_nodes < graph_.nodes.size();
  graph_ = g;
  nodes_.setGraph(graph_, NodeRegistry::instance(), &touched);
  edges_.setGraph(graph_, nodes_);
  NodeStateReports dirty;
  for (const auto& id : downstream(graph_, changed)) dirty.push_back({qstr(id), QStringLiteral("dirty")});
  nodes_.setStates(dirty);
  QStringList kept;
  for (const auto& id : selection_)
    if (graph_.find(sstr(id))) kept << id;
  if (kept != selection_) setSelection(kept);
  refreshParams();
  emit graphChanged();
  // Moves change nothing the engine sees; everything else (including removals) may change the view.
  if (auto_run_ && (!changed.empty() || removed)) run_timer_.start();
}

void GraphDocument::refreshParams() {
  params_.setNode(graph_.find(sstr(inspected_)));
}

QString GraphDocument::addNode(const QString& type, qreal x, qreal y) {
  const NodeDesc* d = NodeRegistry::instance().find(sstr(type));
  if (!d) return fail(QStringLiteral("unknown node type '%1'").arg(type)), QString();
  if (!std::isfinite(x) || !std::isfinite(y)) return fail(QStringLiteral("bad position")), QString();
  Graph next = graph_;
  Node n;
  n.id = unique_id(graph_, d->type);
  n.type = d->type;
  set_node_position(n, x, y);
  next.nodes.push_back(n);
  const QString id = qstr(n.id);
  if (!commit(std::move(next), QStringLiteral("Add %1").arg(id))) return {};
  setSelection({id});
  return id;
}

bool GraphDocument::removeNodes(const QStringList& ids) {
  if (ids.isEmpty()) return fail(QStringLiteral("nothing to delete"));
  std::set<std::string> gone;
  for (const auto& id : ids) {
    if (!graph_.find(sstr(id))) return fail(QStringLiteral("no node '%1'").arg(id));
    gone.insert(sstr(id));
  }
  Graph next = graph_;
  std::erase_if(next.nodes, [&](const Node& n) { return gone.count(n.id) != 0; });
  for (auto& n : next.nodes) std::erase_if(n.inputs, [&](const auto& kv) { return gone.count(kv.second.node) != 0; });
  return commit(std::move(next), ids.size() == 1 ? QStringLiteral("Delete %1").arg(ids[0])
                                                 : QStringLiteral("Delete %1 nodes").arg(ids.size()));
}

bool GraphDocument::moveNodes(const QStringList& ids, qreal dx, qreal dy, bool continuous) {
  if (ids.isEmpty()) return fail(QStringLiteral("nothing to move"));
  if (!std::isfinite(dx) || !std::isfinite(dy)) return fail(QStringLiteral("bad offset"));
  Graph next = graph_;
  for (const auto& id : ids) {
    Node* n = next.find(sstr(id));
    if (!n) return fail(QStringLiteral("no node '%1'").arg(id));
    const auto p = node_position(*n).value_or(std::pair{0.0, 0.0});
    set_node_position(*n, p.first + dx, p.second + dy);
  }
  bool moved = false;
  for (size_t i = 0; i < next.nodes.size(); ++i) moved |= next.nodes[i].ui != graph_.nodes[i].ui;
  if (!moved) return false;  // sub-unit moves round to nothing; not an error
  const QString key = continuous ? QStringLiteral("move:%1#%2").arg(ids.join(','), QString::number(interaction_)) : QString();
  return commit(std::move(next), ids.size() == 1 ? QStringLiteral("Move %1").arg(ids[0])
                                                 : QStringLiteral("Move %1 nodes").arg(ids.size()), key);
}

QString GraphDocument::connectionProblem(const QString& fromId, const QString& fromPort, const QString& toId,
                                         const QString& toPort) const {
  auto p = connection_problem(graph_, sstr(fromId), sstr(fromPort), sstr(toId), sstr(toPort));
  return p ? qstr(*p) : QString();
}

bool GraphDocument::connectPorts(const QString& fromId, const QString& fromPort, const QString& toId,
                                 const QString& toPort) {
  if (const QString p = connectionProblem(fromId, fromPort, toId, toPort); !p.isEmpty()) return fail(p);
  Graph next = graph_;
  Node* to = next.find(sstr(toId));
  const Connection c{sstr(fromId), sstr(fromPort)};
  if (auto it = to->inputs.find(sstr(toPort)); it != to->inputs.end() && it->second == c)
    return fail(QStringLiteral("already connected"));
  to->inputs[sstr(toPort)] = c;
  return commit(std::move(next), QStringLiteral("Connect %1.%2 to %3.%4").arg(fromId, fromPort, toId, toPort));
}

bool GraphDocument::disconnectPort(const QString& toId, const QString& toPort) {
  Graph next = graph_;
  Node* to = next.find(sstr(toId));
  if (!to) return fail(QStringLiteral("no node '%1'").arg(toId));
  if (!to->inputs.erase(sstr(toPort))) return fail(QStringLiteral("input '%1.%2' is not connected").arg(toId, toPort));
  return commit(std::move(next), QStringLiteral("Disconnect %1.%2").arg(toId, toPort));
}

bool GraphDocument::setParam(const QString& id, const QString& name, const QVariant& value, bool continuous) {
  Graph next = graph_;
  Node* n = next.find(sstr(id));
  if (!n) return fail(QStringLiteral("no node '%1'").arg(id));
  const NodeDesc* d = NodeRegistry::instance().find(n->type);
  const ParamDesc* p = d ? d->param(sstr(name)) : nullptr;
  if (!p) return fail(QStringLiteral("node '%1' has no parameter '%2'").arg(id, name));
  const auto v = param_from_variant(*p, value);
  if (!v)
    return fail(QStringLiteral("'%1' is not a valid %2 for %3.%4")
                    .arg(value.toString(), qstr(std::string(param_type_name(p->type))), id, name));
  if (auto problem = check_param_value(*p, *v)) return fail(QStringLiteral("%1.%2: %3").arg(id, name, qstr(*problem)));
  if (auto it = n->params.find(p->name); it != n->params.end() && *it == *v) return false;  // no change
  n->params[p->name] = *v;
  const QString key = continuous ? QStringLiteral("param:%1.%2#%3").arg(id, name, QString::number(interaction_)) : QString();
  return commit(std::move(next), QStringLiteral("Set %1.%2").arg(id, name), key);
}

bool GraphDocument::resetParam(const QString& id, const QString& name) {
  Graph next = graph_;
  Node* n = next.find(sstr(id));
  if (!n) return fail(QStringLiteral("no node '%1'").arg(id));
  if (!n->params.erase(sstr(name))) return fail(QStringLiteral("%1.%2 already has its default").arg(id, name));
  return commit(std::move(next), QStringLiteral("Reset %1.%2").arg(id, name));
}

QStringList GraphDocument::duplicate(const QStringList& ids) {
  if (ids.isEmpty()) return fail(QStringLiteral("nothing to duplicate")), QStringList();
  for (const auto& id : ids)
    if (!graph_.find(sstr(id))) return fail(QStringLiteral("no node '%1'").arg(id)), QStringList();
  Graph part = graph_;
  std::erase_if(part.nodes, [&](const Node& n) { return !ids.contains(qstr(n.id)); });
  Graph next = graph_;
  const auto added = insert_copies(next, part, 40, 40, true);
  QStringList out;
  for (const auto& id : added) out << qstr(id);
  if (!commit(std::move(next), QStringLiteral("Duplicate"))) return {};
  setSelection(out);
  return out;
}

QString GraphDocument::copyText(const QStringList& ids) const {
  return qstr(serialize_graph(extract(graph_, to_std(ids))));
}

bool GraphDocument::copy(const QStringList& ids) {
  if (ids.isEmpty()) return fail(QStringLiteral("nothing to copy"));
  QGuiApplication::clipboard()->setText(copyText(ids));
  return true;
}

QStringList GraphDocument::pasteText(const QString& text, qreal x, qreal y) {
  Graph part;
  try {
    part = parse_graph(sstr(text), "clipboard");
  } catch (const std::exception& e) {
    return fail(qstr(e.what())), QStringList();
  }
  if (part.nodes.empty()) return fail(QStringLiteral("the clipboard holds no nodes")), QStringList();
  double minx = INFINITY, miny = INFINITY;
  for (const auto& n : part.nodes) {
    if (!NodeRegistry::instance().find(n.type))
      return fail(QStringLiteral("cannot paste node '%1': unknown type '%2'").arg(qstr(n.id), qstr(n.type))), QStringList();
    const auto p = node_position(n).value_or(std::pair{0.0, 0.0});
    minx = std::min(minx, p.first);
    miny = std::min(miny, p.second);
  }
  Graph next = graph_;
  const auto added = insert_copies(next, part, x - minx, y - miny, false);
  QStringList out;
  for (const auto& id : added) out << qstr(id);
  if (!commit(std::move(next), QStringLiteral("Paste"))) return {};
  setSelection(out);
  return out;
}

bool GraphDocument::paste(qreal x, qreal y) {
  return !pasteText(QGuiApplication::clipboard()->text(), x, y).isEmpty();
}

void GraphDocument::select(const QString& id, bool additive) {
  QStringList s = additive ? selection_ : QStringList();
  if (additive && s.contains(id)) s.removeAll(id);
  else if (graph_.find(sstr(id))) s << id;
  setSelection(s);
}

void GraphDocument::setSelection(const QStringList& ids) {
  QStringList s;
  for (const auto& id : ids)
    if (!s.contains(id) && graph_.find(sstr(id))) s << id;
  if (s == selection_) return;
  selection_ = s;
  nodes_.setSelection(QSet<QString>(s.begin(), s.end()));
  emit selectionChanged();
}

void GraphDocument::selectAll() {
  QStringList all;
  for (const auto& n : graph_.nodes) all << qstr(n.id);
  setSelection(all);
}

void GraphDocument::selectInRect(qreal x, qreal y, qreal w, qreal h, bool additive) {
  const QRectF r = QRectF(x, y, w, h).normalized();
  QStringList s = additive ? selection_ : QStringList();
  for (const auto& row : nodes_.rows())
    if (r.intersects(QRectF(row.pos, QSizeF(NodeLayout::kWidth, row.height))) && !s.contains(row.key)) s << row.key;
  setSelection(s);
}

QRectF GraphDocument::bounds(const QStringList& ids) const {
  QRectF b;
  for (const auto& row : nodes_.rows())
    if (ids.isEmpty() || ids.contains(row.key)) b |= QRectF(row.pos, QSizeF(NodeLayout::kWidth, row.height));
  return b;
}

QVariantMap GraphDocument::portAt(qreal x, qreal y, qreal radius) const {
  QVariantMap best;
  qreal best_d = radius * radius;
  for (const auto& row : nodes_.rows()) {
    for (bool output : {false, true}) {
      const QVariantList& ports = output ? row.outputs : row.inputs;
      for (int i = 0; i < ports.size(); ++i) {
        const QPointF p = NodeLayout::port(row.pos, i, output);
        const qreal d = (p.x() - x) * (p.x() - x) + (p.y() - y) * (p.y() - y);
        if (d > best_d) continue;
        best_d = d;
        const QVariantMap port = ports[i].toMap();
        best = {{"nodeId", row.key}, {"port", port.value("name")}, {"output", output}, {"type", port.value("type")},
                {"connected", port.value("connected")}, {"x", p.x()}, {"y", p.y()}};
      }
    }
  }
  return best;
}

QString GraphDocument::nodeAt(qreal x, qreal y) const {
  const auto& rows = nodes_.rows();
  for (auto it = rows.rbegin(); it != rows.rend(); ++it)
    if (NodeListModel::bounds(*it).contains(QPointF(x, y))) return it->key;
  return {};
}

void GraphDocument::newDocument() {
  evaluator_->cancel();
  autosave_->discard();
  setSelection({});
  undo_.clear();
  applyGraph(Graph{});
  undo_.setClean();
  setFilePath({});
  claimFile();
}

bool GraphDocument::open(const QString& pathOrUrl) {
  const QString path = local_path(pathOrUrl);
  Graph g;
  try {
    g = load_graph_file(sstr(path));
  } catch (const std::exception& e) {
    return fail(qstr(e.what()));
  }
  place_unpositioned(g);
  evaluator_->cancel();
  autosave_->discard();
  setSelection({});
  undo_.clear();
  applyGraph(g);
  undo_.setClean();
  setFilePath(QFileInfo(path).absoluteFilePath());
  claimFile();
  recent_->add(file_path_);
  return true;
}

bool GraphDocument::restoreRecovery(const QString& recoveryFile) {
  Autosaver::Recovered r;
  try {
    r = Autosaver::read(local_path(recoveryFile));
  } catch (const std::exception& e) {
    return fail(qstr(e.what()));
  }
  place_unpositioned(r.graph);
  if (!r.originalFile.isEmpty() && QFileInfo::exists(r.originalFile)) {
    if (!open(r.originalFile)) return false;
  } else {
    newDocument();
    setFilePath(r.originalFile);  // a project whose file is gone keeps its name; Save recreates it
    claimFile();
  }
  editAnyway();  // restoring is a choice to edit, even where another editor has the project open
  autosave_->adopt(QFileInfo(local_path(recoveryFile)).absoluteFilePath());
  commit(std::move(r.graph), QStringLiteral("Restore unsaved changes"));
  return true;
}

bool GraphDocument::save() {
  if (file_path_.isEmpty()) return fail(QStringLiteral("the project has no file yet; use Save As"));
  if (read_only_)
    return fail(QStringLiteral("%1 is open read-only: another editor has it open (%2); use Save As, or Edit Anyway")
                    .arg(displayName(), open_elsewhere_));
  return saveAs(file_path_);
}

bool GraphDocument::saveAs(const QString& pathOrUrl) {
  QString path = local_path(pathOrUrl);
  if (path.isEmpty()) return fail(QStringLiteral("no file name given"));
  if (QFileInfo(path).suffix().isEmpty()) path += QStringLiteral(".lattice");
  const QString abs = QFileInfo(path).absoluteFilePath();
  if (abs != file_path_) {
    // Writing over a project another editor has open would lose its work or ours at its next save.
    if (const auto owner = DocumentLock::heldByOtherProcess(autosave_->projectLockFile(abs)))
      return fail(QStringLiteral("%1 is open in another editor (%2); close it there or save under another name")
                      .arg(QFileInfo(abs).fileName(), owner->describe()));
  }
  try {
    save_graph_file(graph_, sstr(path));
  } catch (const std::exception& e) {
    return fail(qstr(e.what()));
  }
  undo_.setClean();
  autosave_->discard();  // cleanChanged does not fire when the stack was clean already (Save As)
  const bool renamed = abs != file_path_;
  setFilePath(abs);
  if (renamed) claimFile();
  recent_->add(file_path_);
  return true;
}

void GraphDocument::setFilePath(const QString& path) {
  if (path == file_path_) return;
  file_path_ = path;
  emit filePathChanged();
}

void GraphDocument::claimFile() {
  const auto owner = autosave_->claimProject(file_path_);
  const QString elsewhere = owner ? owner->describe() : QString();
  const bool changed = elsewhere != open_elsewhere_ || read_only_ != owner.has_value();
  open_elsewhere_ = elsewhere;
  read_only_ = owner.has_value();
  if (changed) emit readOnlyChanged();
}

void GraphDocument::editAnyway() {
  if (!read_only_) return;
  read_only_ = false;
  emit readOnlyChanged();
}

QString GraphDocument::displayName() const {
  return file_path_.isEmpty() ? QStringLiteral("Untitled") : QFileInfo(file_path_).fileName();
}

QUrl GraphDocument::examplesFolder() const {
  const auto dir = app::examples_dir();
  return dir.empty() ? QUrl() : QUrl::fromLocalFile(QString::fromStdString(dir.string()));
}

QString GraphDocument::graphJson() const { return qstr(serialize_graph(graph_)); }

QString GraphDocument::randomSeed() const { return QString::number(QRandomGenerator::global()->generate64()); }

QString GraphDocument::currentType() const {
  const Node* n = graph_.find(sstr(currentNode()));
  return n ? qstr(n->type) : QString();
}

QString GraphDocument::currentDescription() const {
  const Node* n = graph_.find(sstr(currentNode()));
  const NodeDesc* d = n ? NodeRegistry::instance().find(n->type) : nullptr;
  return d ? qstr(d->description) : QString();
}

void GraphDocument::setAutoRun(bool on) {
  if (on == auto_run_) return;
  auto_run_ = on;
  emit autoRunChanged();
  // Off drops a run still waiting for its debounce (one armed by the open or an edit just before): left
  // armed it started up to 150 ms later anyway, and its reports overwrote whatever states were set since.
  if (on) run_timer_.start();
  else run_timer_.stop();
}

void GraphDocument::startRun(bool with_side_effects) {
  run_timer_.stop();
  std::map<std::string, std::string> problems;
  const std::set<std::string> runnable = runnable_nodes(graph_, &problems);
  // Side-effect nodes write files: only an explicit render runs them.
  std::set<std::string> pool;
  for (const auto& n : graph_.nodes) {
    if (!runnable.count(n.id)) continue;
    const NodeDesc* d = NodeRegistry::instance().find(n.type);
    if (with_side_effects || !d->side_effect) pool.insert(n.id);
  }
  // Nodes of this run keep a state that describes their result (cached, done, dirty): the worker reports
  // every one of them as queued or cached as the run starts. Resetting all of them here repainted every
  // node twice per run, about 40 ms of the UI thread with 500 nodes (docs/performance.md, "while a model
  // runs"). States of an unfinished or failed run, and nodes left out, go back to idle.
  NodeStateReports reset;
  for (const auto& n : graph_.nodes) {
    const QString id = qstr(n.id);
    const auto it = problems.find(n.id);
    const QString state = nodes_.state(id);
    if (it != problems.end()) reset.push_back({id, QStringLiteral("invalid"), 0, qstr(it->second)});
    else if (!pool.count(n.id) || (state != QLatin1String("cached") && state != QLatin1String("done") &&
                                   state != QLatin1String("dirty")))
      reset.push_back({id, QStringLiteral("idle")});
  }
  nodes_.setStates(reset);
  Evaluator::Job job;
  job.graph = restrict_to(graph_, pool);
  std::set<std::string> consumed;
  for (const auto& m : job.graph.nodes)
    for (const auto& [port, c] : m.inputs) consumed.insert(c.node);
  for (const auto& n : job.graph.nodes)
    if (!consumed.count(n.id)) job.targets.push_back(n.id);
  if (pool.count(sstr(currentNode()))) job.view_node = sstr(currentNode());
  if (job.targets.empty()) return;
  job.base_dir = file_path_.isEmpty() ? QDir::currentPath().toStdString() : QFileInfo(file_path_).absolutePath().toStdString();
  // A run is when a crash is likeliest: the autosave is written off the UI thread (a flush to disk can
  // take tens of ms on a busy disk) and the run waits for it on the evaluation's thread.
  job.document = std::make_shared<const Json>(graph_to_json(graph_));
  job.before_run = autosave_->saveBeforeRun(job.document);
  evaluator_->start(std::move(job));
}

}  // namespace lattice::editor
