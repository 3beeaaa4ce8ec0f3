#pragma once
/// GraphDocument: one open project in the editor. It owns the lattice::Graph, the undo stack, the file
/// it came from, the selection, and the models QML presents (nodes, edges, the inspected node's
/// parameters, the node catalogue), and it drives the Evaluator after edits.
///
/// The rule for every mutation (as Kdenlive's TimelineModel states it): a request method validates its
/// arguments on a copy of the graph, returns whether the change happened, leaves everything unchanged
/// when it did not (lastError then says why), and pushes exactly one QUndoCommand. Continuous edits (a
/// node drag, a slider drag) pass continuous = true and merge into one undo step until endInteraction().
/// Undo and redo restore the exact graph, byte for byte in its JSON.
///
/// Threading: UI thread only. Evaluation happens on the Evaluator's thread on a copy of the graph.

#include <QObject>
#include <QRectF>
#include <QStringList>
#include <QTimer>
#include <QUndoStack>
#include <QUrl>
#include <QVariant>
#include <QVariantMap>
#include <QtQml/qqmlregistration.h>

#include "app/editor/autosave.h"
#include "app/editor/catalog_model.h"
#include "app/editor/edge_list_model.h"
#include "app/editor/evaluator.h"
#include "app/editor/node_list_model.h"
#include "app/editor/param_list_model.h"
#include "app/editor/recent_files.h"
#include "core/graph.h"

namespace lattice::editor {

class GraphDocument : public QObject {
  Q_OBJECT
  QML_ELEMENT
  Q_PROPERTY(lattice::editor::NodeListModel* nodes READ nodes CONSTANT)
  Q_PROPERTY(lattice::editor::EdgeListModel* edges READ edges CONSTANT)
  Q_PROPERTY(lattice::editor::CatalogModel* catalog READ catalog CONSTANT)
  Q_PROPERTY(lattice::editor::ParamListModel* params READ params CONSTANT)
  Q_PROPERTY(lattice::editor::Evaluator* evaluator READ evaluator CONSTANT)
  Q_PROPERTY(lattice::editor::Autosaver* autosave READ autosave CONSTANT)
  Q_PROPERTY(lattice::editor::RecentFiles* recent READ recent CONSTANT)
  Q_PROPERTY(QString filePath READ filePath NOTIFY filePathChanged)
  Q_PROPERTY(QString displayName READ displayName NOTIFY filePathChanged)
  /// The installed examples (<prefix>/share/lattice/examples), where Open starts for an untitled project.
  Q_PROPERTY(QUrl examplesFolder READ examplesFolder CONSTANT)
  Q_PROPERTY(bool dirty READ dirty NOTIFY dirtyChanged)
  Q_PROPERTY(bool canUndo READ canUndo NOTIFY undoStateChanged)
  Q_PROPERTY(bool canRedo READ canRedo NOTIFY undoStateChanged)
  Q_PROPERTY(QString undoText READ undoText NOTIFY undoStateChanged)
  Q_PROPERTY(QString redoText READ redoText NOTIFY undoStateChanged)
  Q_PROPERTY(QStringList selection READ selection NOTIFY selectionChanged)
  Q_PROPERTY(QString currentNode READ currentNode NOTIFY selectionChanged)
  Q_PROPERTY(QString currentType READ currentType NOTIFY currentChanged)
  Q_PROPERTY(QString currentDescription READ currentDescription NOTIFY currentChanged)
  Q_PROPERTY(QString lastError READ lastError NOTIFY lastErrorChanged)
  /// Another editor process has this project open (see document_lock.h): who, e.g. "PID 12 (lattice) on
  /// host"; "" when none did at open or Save As.
  Q_PROPERTY(QString openElsewhere READ openElsewhere NOTIFY readOnlyChanged)
  /// Opened while another editor had the project open: every edit and Save are refused (lastError says
  /// why) until editAnyway(); Save As to another file is allowed.
  Q_PROPERTY(bool readOnly READ readOnly NOTIFY readOnlyChanged)
  Q_PROPERTY(bool autoRun READ autoRun WRITE setAutoRun NOTIFY autoRunChanged)
  Q_PROPERTY(int nodeCount READ nodeCount NOTIFY graphChanged)
  Q_PROPERTY(qreal nodeWidth READ nodeWidth CONSTANT)
  Q_PROPERTY(qreal headerHeight READ headerHeight CONSTANT)
  Q_PROPERTY(qreal portRow READ portRow CONSTANT)

 public:
  explicit GraphDocument(QObject* parent = nullptr);
  ~GraphDocument() override;

  // --- Requests that change the graph (each validated, all-or-nothing, one undo step) ---
  /// Adds a node of a registered type at canvas position (x, y); returns its id, "" on failure.
  Q_INVOKABLE QString addNode(const QString& type, qreal x, qreal y);
  /// Removes the nodes and every connection touching them.
  Q_INVOKABLE bool removeNodes(const QStringList& ids);
  Q_INVOKABLE bool removeSelected() { return removeNodes(selection_); }
  Q_INVOKABLE bool moveNodes(const QStringList& ids, qreal dx, qreal dy, bool continuous = false);
  /// Connects an output to an input (replacing what fed that input). Refused for unknown nodes or ports,
  /// different port types, or a connection that would close a cycle.
  Q_INVOKABLE bool connectPorts(const QString& fromId, const QString& fromPort, const QString& toId, const QString& toPort);
  /// Why connectPorts would refuse, or "" when it would succeed (the canvas asks while dragging).
  Q_INVOKABLE QString connectionProblem(const QString& fromId, const QString& fromPort, const QString& toId,
                                        const QString& toPort) const;
  Q_INVOKABLE bool disconnectPort(const QString& toId, const QString& toPort);
  /// Sets an explicit parameter value (QML types: number, bool, string; seeds as decimal strings; colours
  /// as [r, g, b, a]). Refused when the value is of the wrong kind or out of range, or equals the current one.
  Q_INVOKABLE bool setParam(const QString& id, const QString& name, const QVariant& value, bool continuous = false);
  /// Removes an explicit value so the parameter takes its default.
  Q_INVOKABLE bool resetParam(const QString& id, const QString& name);
  /// Copies the nodes (keeping their inputs from outside the set) beside the originals; selects and
  /// returns the copies.
  Q_INVOKABLE QStringList duplicate(const QStringList& ids);
  /// Inserts the nodes of .lattice JSON with their top-left at (x, y); selects and returns them.
  Q_INVOKABLE QStringList pasteText(const QString& text, qreal x, qreal y);
  Q_INVOKABLE bool paste(qreal x, qreal y);
  /// Ends the current continuous edit: the next one starts a new undo step.
  Q_INVOKABLE void endInteraction() { ++interaction_; }
  Q_INVOKABLE void undo() { undo_.undo(); }
  Q_INVOKABLE void redo() { undo_.redo(); }

  // --- Clipboard, selection, files: no undo step ---
  /// The nodes as .lattice JSON (connections between them only).
  Q_INVOKABLE QString copyText(const QStringList& ids) const;
  Q_INVOKABLE bool copy(const QStringList& ids);
  Q_INVOKABLE void select(const QString& id, bool additive = false);
  Q_INVOKABLE void setSelection(const QStringList& ids);
  Q_INVOKABLE void selectAll();
  /// Selects the nodes overlapping the canvas rectangle.
  Q_INVOKABLE void selectInRect(qreal x, qreal y, qreal w, qreal h, bool additive);
  Q_INVOKABLE void clearSelection() { setSelection({}); }
  /// Bounding box of the nodes (all when ids is empty), in canvas units.
  Q_INVOKABLE QRectF bounds(const QStringList& ids = {}) const;
  /// The port nearest canvas point (x, y) within `radius`, as {nodeId, port, output, type, connected, x, y}
  /// (x, y: its centre); {} if none.
  Q_INVOKABLE QVariantMap portAt(qreal x, qreal y, qreal radius = 14) const;
  /// The id of the topmost node (the last drawn) whose body holds canvas point (x, y); "" if none. The
  /// canvas hit-tests with it when zoomed far out, where nodes have no items of their own.
  Q_INVOKABLE QString nodeAt(qreal x, qreal y) const;
  Q_INVOKABLE void newDocument();
  /// Opens a .lattice file (a path or a file:// URL). On failure the current document stays. When another
  /// editor process has it open, the document opens read-only (openElsewhere says who).
  Q_INVOKABLE bool open(const QString& pathOrUrl);
  /// Lifts read-only: the user chose to edit a project another editor has open. Its autosaves then go to
  /// a recovery file of their own, beside the other editor's.
  Q_INVOKABLE void editAnyway();
  Q_INVOKABLE bool save();
  /// Refused for a file another editor process has open (other than this document's own file).
  Q_INVOKABLE bool saveAs(const QString& pathOrUrl);
  /// Restores a recovery file (see Autosaver): opens the project it belongs to when that file exists (else
  /// starts untitled), then applies the recovered graph as one undo step, so the document is modified and
  /// undo shows the saved version. On failure the current document stays.
  Q_INVOKABLE bool restoreRecovery(const QString& recoveryFile);
  /// The graph as the file would hold it.
  Q_INVOKABLE QString graphJson() const;
  Q_INVOKABLE QString randomSeed() const;
  /// Evaluates now: every runnable node without side effects, and the viewed node.
  Q_INVOKABLE void run() { startRun(false); }
  /// Evaluates everything, side-effect nodes (file writers) included.
  Q_INVOKABLE void renderAll() { startRun(true); }

  const Graph& graph() const { return graph_; }
  QUndoStack* undoStack() { return &undo_; }
  NodeListModel* nodes() { return &nodes_; }
  EdgeListModel* edges() { return &edges_; }
  CatalogModel* catalog() { return &catalog_; }
  ParamListModel* params() { return &params_; }
  Evaluator* evaluator() { return evaluator_; }
  Autosaver* autosave() { return autosave_; }
  RecentFiles* recent() { return recent_; }
  QString filePath() const { return file_path_; }
  QString displayName() const;
  QUrl examplesFolder() const;
  bool dirty() const { return !undo_.isClean(); }
  bool canUndo() const { return undo_.canUndo(); }
  bool canRedo() const { return undo_.canRedo(); }
  QString undoText() const { return undo_.undoText(); }
  QString redoText() const { return undo_.redoText(); }
  QStringList selection() const { return selection_; }
  QString currentNode() const { return selection_.isEmpty() ? QString() : selection_.last(); }
  QString currentType() const;
  QString currentDescription() const;
  QString lastError() const { return last_error_; }
  QString openElsewhere() const { return open_elsewhere_; }
  bool readOnly() const { return read_only_; }
  bool autoRun() const { return auto_run_; }
  /// On: edits (and the open) run the graph once they pause. Off: no run starts unless asked, including
  /// one already waiting for the pause; a run in flight finishes.
  void setAutoRun(bool on);
  int nodeCount() const { return static_cast<int>(graph_.nodes.size()); }
  static qreal nodeWidth() { return NodeLayout::kWidth; }
  static qreal headerHeight() { return NodeLayout::kHeader; }
  static qreal portRow() { return NodeLayout::kPortRow; }

  /// Sets lastError (for helpers such as the Autosaver); returns false.
  bool reportError(const QString& message) { return fail(message); }

  /// Replaces the graph (used by undo commands; not a request: pushes nothing).
  void applyGraph(const Graph& g);

 signals:
  void filePathChanged();
  void dirtyChanged();
  void undoStateChanged();
  void selectionChanged();
  void currentChanged();
  void lastErrorChanged();
  void readOnlyChanged();
  void autoRunChanged();
  void graphChanged();

 private:
  bool commit(Graph next, const QString& text, const QString& merge_key = {});
  bool fail(const QString& message);
  void setFilePath(const QString& path);
  /// Takes the lock on file_path_ (releasing the previous one); read-only when another editor holds it.
  void claimFile();
  void refreshParams();
  void startRun(bool with_side_effects);

  Graph graph_;
  QUndoStack undo_;
  NodeListModel nodes_;
  EdgeListModel edges_;
  CatalogModel catalog_;
  ParamListModel params_;
  Evaluator* evaluator_;
  Autosaver* autosave_;
  RecentFiles* recent_;
  QTimer run_timer_;
  QStringList selection_;
  QString file_path_, last_error_, inspected_, open_elsewhere_;
  quint64 interaction_ = 0;
  bool auto_run_ = true;
  bool read_only_ = false;
};

}  // namespace lattice::editor
