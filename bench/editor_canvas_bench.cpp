// lattice-editor-bench: frame times of the editor's node canvas with a large graph while panning and
// zooming (issue #6). Not a Google Benchmark: it needs a QGuiApplication, a window and the QML scene.
//
//   build/lattice-editor-bench [nodes=500] [frames=120] [quick|far]
//
// Builds a graph of `nodes` nodes in a grid (value.number feeding chains of value.math, so about as many
// wires as nodes), opens it in the real editor window (Main.qml, 1400x860), frames it, then for each of
// `frames` frames pans (then zooms) the canvas a little and waits for the frame to be presented
// (QQuickWindow::frameSwapped), timing change -> presented. A second pass times grabWindow() per pan
// step (render + read-back, independent of the render loop). Prints median, mean, p95 and max in ms, and
// the ratios to an empty canvas and to the same graph without off-screen culling, measured in the same run.
// A last pass pans the 500-node canvas while an evaluation runs on the Evaluator's thread: a node
// (bench.busy, defined here) that keeps one core busy and reports progress every millisecond, as a
// sampler does, so the UI thread competes for the CPU and redraws that node's progress bar.
// Each pass also reports the CPU time the whole process (UI thread, render thread, llvmpipe's threads; not
// bench.busy's own) spent per frame: on a machine shared with builds the wall time mostly measures the wait for a core.
// A third timed pass zooms in and out across the faces' detail levels (0.6 to 2.6, 10% a frame, as a wheel
// does), where node faces are re-rasterised; the frames right after that gesture, while faces catch up,
// are timed too (every frame of the second after it). A fourth pass pans and zooms (0.27 to 0.33) zoomed
// out to 0.3, where about 350 of the 500 nodes are in view, and prints how many items the canvas holds
// there. `quick` runs only the 500-node passes, without baselines; `far` only the zoomed-out ones (to profile);
// `busy` every 500-node pass (CPU per frame included) while the evaluation runs, zoomed far out too, and
// what FarNodeLayer's listing and patching cost; `model` the same while a real graph evaluates on the
// Vulkan device again and again (examples/default.lattice's image chain at 1920x1080). CPU per frame is given per step (change -> frameSwapped)
// and per presented frame (a step can span two presented frames). LATTICE_BENCH_TRACE=1 prints every step
// of the zoom pass (zoom, wall, CPU, frames presented, faces shown and painted).
// Slow steps (`busy` and `model`): every step over LATTICE_BENCH_SLOW ms (default 45) is listed after the
// passes with which pass it was in, the CPU each group of threads spent in it (UI thread, Qt's render thread,
// the window's other threads, the evaluation's niced ones), how many runs started and state batches arrived
// in it, and each event the UI thread spent over 3 ms on (receiver class, event type): what made it slow.
// In `model` mode each run's largest single piece of UI-thread work (its start, or one event) is
// printed too, the first run's apart; LATTICE_BENCH_TRACE=1 also tallies the first run's UI events by receiver, and
// LATTICE_BENCH_SETTLE_MS=n lets the window settle n ms before the 10 timed runs.
// Run it under QT_QPA_PLATFORM=offscreen or under xvfb-run with the xcb platform (docs/performance.md).
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QGuiApplication>
#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickWindow>
#include <QTemporaryDir>
#include <QThread>
#include <QTimer>
#include <QDir>
#include <time.h>

#ifdef __linux__
#include <sys/resource.h>
#include <unistd.h>
#endif
#include <cerrno>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "app/editor/editor_main.h"
#include "app/editor/evaluator.h"
#include "app/editor/far_node_layer.h"
#include "app/editor/node_face.h"
#include "app/editor/graph_document.h"
#include "bench/support.h"
#include "core/eval_context.h"
#include "core/node.h"
#include "core/types/basic.h"

namespace {

// CPU seconds the bench.busy evaluation has spent so far (its thread's clock): not the UI's cost, so the
// CPU per frame leaves it out.
std::atomic<double> g_busy_cpu{0};
bool g_model = false;  // `model`: the evaluation is examples/default.lattice's image chain, run again and again
using lattice::bench::thread_cpu_seconds;

// bench.busy: spins one core for `ms` milliseconds (or until cancelled), reporting progress every 1 ms.
lattice::NodeDesc busy_node() {
  lattice::NodeDesc d;
  d.type = "bench.busy";
  d.category = "Bench";
  d.description = "keeps one core busy, reporting progress (bench/editor_canvas_bench.cpp)";
  d.outputs = {{"value", lattice::PortType::Number, ""}};
  d.params = {{"ms", lattice::ParamType::Int, 1000, "", 1, 3600000}};
  d.evaluate = [](lattice::EvalContext& c) {
    using clock = std::chrono::steady_clock;
    const auto total = std::chrono::milliseconds(c.integer("ms"));
    const auto start = clock::now();
    const double cpu_start = thread_cpu_seconds(), cpu_before = g_busy_cpu.load();
    double sink = 0;
    for (auto now = start; now - start < total; now = clock::now()) {
      c.check_cancel();
      for (int i = 0; i < 20000; ++i) sink += std::sqrt(static_cast<double>(i));
      c.progress(std::chrono::duration<double>(now - start) / total);
      g_busy_cpu.store(cpu_before + thread_cpu_seconds() - cpu_start);
    }
    c.set_output("value", lattice::make_number(sink));
  };
  return d;
}
LATTICE_REGISTER_NODE(busy_node);

// examples/default.lattice's image chain (two gradients, a screen merge, a colour grade) at 1920x1080,
// without its save node, above the grid's first nodes.
QByteArray image_chain() {
  return R"(,{"id":"sky","type":"image.gradient","params":{"width":1920,"height":1080,"direction":"vertical","start":[0.05,0.12,0.35,1.0],"end":[0.95,0.55,0.30,1.0]},"ui":{"x":0,"y":-700}})"
         R"(,{"id":"sun","type":"image.gradient","params":{"width":1920,"height":1080,"direction":"radial","start":[1.0,0.95,0.7,1.0],"end":[0.0,0.0,0.0,1.0]},"ui":{"x":0,"y":-500}})"
         R"(,{"id":"glow","type":"image.merge","params":{"mode":"screen","mix":0.8},"inputs":{"a":{"node":"sky","output":"image"},"b":{"node":"sun","output":"image"}},"ui":{"x":260,"y":-600}})"
         R"(,{"id":"grade","type":"image.color","params":{"exposure":0.2,"gamma":1.1,"saturation":1.2},"inputs":{"image":{"node":"glow","output":"image"}},"ui":{"x":480,"y":-600}})";
}

QByteArray grid_graph(int count, bool busy = false) {
  // 25 columns, 240 x 160 canvas units apart; every fifth node is a source, the others add to the left one.
  QByteArray json = R"({"lattice":1,"nodes":[)";
  for (int i = 0; i < count; ++i) {
    const int col = i % 25, row = i / 25;
    const bool source = col % 5 == 0;
    QByteArray n = QStringLiteral(R"({"id":"n%1","type":"%2","ui":{"x":%3,"y":%4})")
                       .arg(i)
                       .arg(source ? "value.number" : "value.math")
                       .arg(col * 240)
                       .arg(row * 160)
                       .toUtf8();
    if (!source) n += QStringLiteral(R"(,"inputs":{"a":{"node":"n%1","output":"value"}})").arg(i - 1).toUtf8();
    json += n + "}" + (i + 1 < count ? "," : "");
  }
  if (busy && g_model) json += image_chain();
  else if (busy) json += R"(,{"id":"busy","type":"bench.busy","params":{"ms":3600000},"ui":{"x":100,"y":100}})";
  return json + "]}";
}

struct Stats {
  double median, mean, p95, max;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  return {v[v.size() / 2], mean, v[std::min(v.size() - 1, v.size() * 95 / 100)], v.back()};
}

void print(const char* what, const std::vector<double>& ms) {
  if (ms.empty()) return;  // a pass `far` skips
  const Stats s = stats(ms);
  std::printf("%-34s frames %4zu  median %7.2f ms  mean %7.2f ms  p95 %7.2f ms  max %7.2f ms  (%.0f fps median)\n",
              what, ms.size(), s.median, s.mean, s.p95, s.max, 1000 / s.median);
}

// CPU seconds of this process's threads that run at a lower priority than this (UI) thread: the
// evaluation's worker and the threads it created (lavapipe's), niced by Evaluator::kWorkerNice. Each
// thread's own clock (the clock id glibc's pthread_getcpuclockid makes from a thread id).
double niced_threads_cpu_seconds() {
  double sum = 0;
#ifdef __linux__
  errno = 0;
  const int own = getpriority(PRIO_PROCESS, 0);
  QDir tasks(QStringLiteral("/proc/self/task"));
  for (const QString& name : tasks.entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
    const pid_t tid = name.toInt();
    errno = 0;
    const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
    if (errno != 0 || nice <= own) continue;
    timespec t{};
    if (clock_gettime(static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6), &t) == 0)
      sum += static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  }
#endif
  return sum;
}

// In `model` mode the evaluation's threads are left out (they run at a lower priority and take what
// the UI leaves), so that the figure is what the window's own threads spent, as with bench.busy.
double cpu_ms() {
  return 1e3 * (lattice::bench::process_cpu_seconds() - (g_model ? niced_threads_cpu_seconds() : g_busy_cpu.load()));
}
std::vector<double>* g_cpu = nullptr;  // where presented_after records the CPU time of each frame
// Frames the window presented (counted on the render thread), and for each g_cpu the CPU time of each step
// divided by the frames presented in it: a step can span two frames when the canvas asks for another
// one itself (faces painted a few per frame), and the queued frameSwapped that ends the wait is only seen
// once the GUI thread is done syncing the next one.
std::atomic<int> g_swaps{0};
std::map<const std::vector<double>*, std::vector<double>> g_cpu_per_frame;
int g_last_frames = 0;
bool g_far_only = false;               // `far`: only the passes zoomed out to 0.3

QElapsedTimer started() {
  QElapsedTimer t;
  t.start();
  return t;
}

// Slow steps: what each group of the process's threads spent, and what the UI thread handled.
struct ThreadCpu {
  double ui = 0, render = 0, niced = 0, all = 0;  // ms
};
ThreadCpu thread_cpu() {
  ThreadCpu c;
  c.ui = 1e3 * thread_cpu_seconds();
  c.all = 1e3 * lattice::bench::process_cpu_seconds();
#ifdef __linux__
  static std::map<pid_t, bool> render_threads;  // tid -> is Qt's render thread (comm read once per thread)
  errno = 0;
  const int own = getpriority(PRIO_PROCESS, 0);
  for (const QString& name : QDir(QStringLiteral("/proc/self/task")).entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
    const pid_t tid = name.toInt();
    auto it = render_threads.find(tid);
    if (it == render_threads.end()) {
      QFile comm(QStringLiteral("/proc/self/task/%1/comm").arg(tid));
      const bool render = comm.open(QIODevice::ReadOnly) && comm.readAll().startsWith("QSGRenderThread");
      it = render_threads.emplace(tid, render).first;
    }
    errno = 0;
    const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
    timespec t{};
    if (clock_gettime(static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6), &t) != 0) continue;
    const double ms = 1e3 * static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_nsec);
    if (it->second) c.render += ms;
    else if (errno == 0 && nice > own) c.niced += ms;
  }
#endif
  return c;
}
const char* g_pass = "";  // the pass being timed
int g_runs_started = 0, g_batches = 0;
double g_slow_ms = 45;
std::vector<std::string> g_slow;     // one line per slow step
std::vector<std::string> g_events;   // the UI thread's long events in the current step
std::map<std::string, std::pair<int, double>> g_event_cpu;  // "class/type" -> events, UI CPU ms
bool g_watch_events = false;
double g_largest_event_ms = 0;  // the UI thread's costliest event (CPU) since last reset, and what it was
std::string g_largest_event;

/// Times every event the UI thread delivers at the top level; events over 3 ms are noted for the step.
class TimedApp : public QGuiApplication {
 public:
  using QGuiApplication::QGuiApplication;
  bool notify(QObject* receiver, QEvent* event) override {
    // Other threads deliver their own events through here too: only the UI thread's are timed.
    if (!g_watch_events || depth_ > 0 || QThread::currentThread() != thread())
      return QGuiApplication::notify(receiver, event);
    ++depth_;
    const int type = event->type();
    const char* what = receiver->metaObject()->className();  // before: the event may delete the receiver
    const double cpu = thread_cpu_seconds();
    QElapsedTimer t;
    t.start();
    const bool r = QGuiApplication::notify(receiver, event);
    const double ms = static_cast<double>(t.nsecsElapsed()) / 1e6;
    --depth_;
    auto& tally = g_event_cpu[std::string(what) + "/" + std::to_string(type)];
    ++tally.first;
    const double cpu_ms = 1e3 * (thread_cpu_seconds() - cpu);
    tally.second += cpu_ms;
    if (cpu_ms > g_largest_event_ms) {
      g_largest_event_ms = cpu_ms;
      g_largest_event = std::string(what) + "/" + std::to_string(type);
    }
    if (ms > 3) {
      char line[200];
      std::snprintf(line, sizeof line, "%s/%d %.1f ms (CPU %.1f)", what, type, ms,
                    1e3 * (thread_cpu_seconds() - cpu));
      g_events.push_back(line);
    }
    return r;
  }

 private:
  int depth_ = 0;
};

/// Applies `change`, then waits until the window has presented a frame; returns the milliseconds taken.
double presented_after(QQuickWindow* w, const std::function<void()>& change) {
  const bool watch = g_watch_events && g_cpu;
  const ThreadCpu before = watch ? thread_cpu() : ThreadCpu{};
  const int runs = g_runs_started, batches = g_batches;
  g_events.clear();
  QEventLoop loop;
  auto c = QObject::connect(w, &QQuickWindow::frameSwapped, &loop, &QEventLoop::quit, Qt::QueuedConnection);
  QTimer::singleShot(5000, &loop, &QEventLoop::quit);
  QElapsedTimer t;
  const double cpu = cpu_ms();
  const int swaps = g_swaps.load();
  t.start();
  change();
  w->update();
  loop.exec();
  QObject::disconnect(c);
  g_last_frames = std::max(1, g_swaps.load() - swaps);
  if (g_cpu) {
    g_cpu->push_back(cpu_ms() - cpu);
    g_cpu_per_frame[g_cpu].push_back(g_cpu->back() / g_last_frames);
  }
  const double wall = static_cast<double>(t.nsecsElapsed()) / 1e6;
  if (watch && wall > g_slow_ms) {
    const ThreadCpu after = thread_cpu();
    const double ui = after.ui - before.ui, render = after.render - before.render, niced = after.niced - before.niced;
    char line[400];
    std::snprintf(line, sizeof line,
                  "%-24s step %3zu  wall %6.1f ms  frames %d  CPU: UI %5.1f  render %5.1f  other window threads %5.1f  "
                  "evaluation %5.1f ms  runs started %d  state batches %d",
                  g_pass, g_cpu->size() - 1, wall, g_last_frames, ui, render, after.all - before.all - ui - render - niced,
                  niced, g_runs_started - runs, g_batches - batches);
    std::string l = line;
    for (const auto& e : g_events) l += "\n      UI event " + e;
    g_slow.push_back(std::move(l));
  }
  return wall;
}

struct Result {
  std::vector<double> pan, zoom, grab, pan_cpu, zoom_cpu, detail, detail_cpu, settle, settle_cpu;
  std::vector<double> far_pan, far_pan_cpu, far_zoom, far_zoom_cpu;
  int far_items = 0, near_items = 0;  // visible items under the canvas content, zoomed out and at 0.6
};

/// Visible items under `item`, itself included.
int visible_items(QQuickItem* item) {
  if (!item->isVisible()) return 0;
  int n = 1;
  for (QQuickItem* c : item->childItems()) n += visible_items(c);
  return n;
}

/// CPU time per frame of each pass (all threads): median / p95 / max.
void print_cpu(const Result& r) {
  auto cpu = [](const char* what, const std::vector<double>& v) {
    if (v.empty()) return;
    const Stats s = stats(v), f = stats(g_cpu_per_frame[&v]);
    std::printf("CPU per frame, %-26s median %6.2f ms  p95 %6.2f ms  max %6.2f ms   per presented frame %6.2f / %6.2f / %6.2f ms\n",
                what, s.median, s.p95, s.max, f.median, f.p95, f.max);
  };
  cpu("pan:", r.pan_cpu);
  cpu("zoom:", r.zoom_cpu);
  cpu("zoom across detail levels:", r.detail_cpu);
  cpu("the second after it:", r.settle_cpu);
  if (r.far_pan_cpu.empty()) return;
  cpu("pan at zoom 0.3:", r.far_pan_cpu);
  cpu("zoom 0.27-0.33:", r.far_zoom_cpu);
  std::printf("visible canvas items: %d at zoom 0.6, %d at zoom 0.3\n", r.near_items, r.far_items);
}

/// Opens a grid graph of `count` nodes in the editor window and times `frames` pan and zoom frames.
bool measure(int count, int frames, Result& r, bool culling = true, bool busy = false) {
  const int far_frames = frames;
  QTemporaryDir dir;
  const QString file = dir.filePath("grid.lattice");
  QFile f(file);
  if (!f.open(QIODevice::WriteOnly) || f.write(grid_graph(count, busy)) < 0) return false;
  f.close();

  QQmlApplicationEngine engine;
  QElapsedTimer load;
  load.start();
  if (!lattice::editor::load_editor(engine, file)) return false;
  auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().first());
  auto* doc = window->property("document").value<lattice::editor::GraphDocument*>();
  auto* canvas = window->findChild<QQuickItem*>("canvas");
  auto* content = canvas ? canvas->findChild<QQuickItem*>("content") : nullptr;
  if (!doc || !content) return false;
  QObject::connect(window, &QQuickWindow::frameSwapped, window, [] { ++g_swaps; }, Qt::DirectConnection);
  doc->setAutoRun(false);  // measure drawing, not evaluation
  canvas->setProperty("culling", culling);
  presented_after(window, [] {});  // everything created and rendered once
  int model_runs = 0;
  QElapsedTimer model_time;
  QMetaObject::Connection again;
  QObject::connect(doc->evaluator(), &lattice::editor::Evaluator::nodeStates, [] { ++g_batches; });
  if (busy && g_model) {
    // What one run costs the UI thread (its own CPU clock, so other processes on the machine do not count):
    // starting it and taking in its state reports and result, with the window repainting what changed.
    std::vector<double> ui_ms;
    // LATTICE_BENCH_SETTLE_MS: let the window finish opening (faces are painted a few per frame) first.
    if (const int settle = qEnvironmentVariableIntValue("LATTICE_BENCH_SETTLE_MS"); settle > 0) {
      const double before = thread_cpu_seconds();
      for (QElapsedTimer wait = started(); wait.elapsed() < settle;)
        QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
      std::printf("UI thread CPU while the window settled for %d ms: %.2f ms\n", settle, 1e3 * (thread_cpu_seconds() - before));
    }
    g_events.clear();
    g_event_cpu.clear();
    // The largest single piece of each run's UI work (its start, or one event: a state batch, a frame's
    // sync): what one frame can be kept waiting by, where ui_ms sums the whole run.
    std::vector<double> largest_ms;
    std::string first_largest;
    double first_wall_ms = 0;
    int first_frames = 0;
    for (int i = 0; i < 10; ++i) {
      doc->setParam("grade", "exposure", i % 2 ? 0.25 : 0.2);
      const double before = thread_cpu_seconds();
      const int swaps = g_swaps;
      QElapsedTimer wall = started();
      QEventLoop idle;  // blocks in the event loop (waitForIdle would poll, spending the clock measured)
      QObject::connect(doc->evaluator(), &lattice::editor::Evaluator::busyChanged, &idle, &QEventLoop::quit);
      QTimer::singleShot(60000, &idle, &QEventLoop::quit);
      doc->run();
      g_largest_event_ms = 1e3 * (thread_cpu_seconds() - before);
      g_largest_event = "GraphDocument::run";
      idle.exec();
      if (doc->evaluator()->busy()) return false;
      ui_ms.push_back(1e3 * (thread_cpu_seconds() - before));
      largest_ms.push_back(g_largest_event_ms);
      if (i == 0) {
        first_largest = g_largest_event;
        first_wall_ms = static_cast<double>(wall.elapsed());
        first_frames = g_swaps - swaps;
      }
      // LATTICE_BENCH_TRACE=1: where the first run's UI CPU went, by event receiver and type.
      if (i == 0 && qEnvironmentVariableIntValue("LATTICE_BENCH_TRACE") != 0) {
        for (const auto& [what, n_cpu] : g_event_cpu)
          std::printf("first run, UI events %-40s %4d events, CPU %7.2f ms\n", what.c_str(), n_cpu.first, n_cpu.second);
        for (const auto& e : g_events) std::printf("first run, UI event %s\n", e.c_str());
      }
    }
    const Stats s = stats(ui_ms);
    std::printf("UI thread CPU per model run (start, state reports, result; 10 runs): median %.2f ms, max %.2f ms, "
                "first run after opening %.2f ms\n", s.median, s.max, ui_ms.front());
    std::printf("first run after opening: %.0f ms wall, %d frames presented; its largest piece of UI work %.2f ms (%s); "
                "runs 2-10: largest piece %.2f ms\n", first_wall_ms, first_frames, largest_ms.front(), first_largest.c_str(),
                *std::max_element(largest_ms.begin() + 1, largest_ms.end()));
    // Each run's end changes the grade's exposure and runs again: the merge and grade evaluate on the
    // Vulkan device (lavapipe's threads) all through the passes, with their state reports.
    again = QObject::connect(doc->evaluator(), &lattice::editor::Evaluator::finished, doc, [doc, &model_runs] {
      ++model_runs;
      ++g_runs_started;
      doc->setParam("grade", "exposure", model_runs % 2 ? 0.25 : 0.2);
      doc->run();
    }, Qt::QueuedConnection);
    model_time.start();
    doc->run();
  } else if (busy) {
    doc->run();
    QElapsedTimer wait;
    wait.start();
    while (doc->nodes()->state("busy") != "running" && wait.elapsed() < 10000)
      QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
    if (doc->nodes()->state("busy") != "running") return false;
  }
  std::printf("platform %s, %d nodes, %d wires, window %dx%d, culling %s, first frame after %lld ms\n",
              qPrintable(QGuiApplication::platformName()), doc->nodeCount(), doc->edges()->rowCount(),
              window->width(), window->height(), culling ? "on" : "off", static_cast<long long>(load.elapsed()));
  // Zoomed to show about a tenth of the graph, as while working in it. From the framed view (zoomed far
  // out) the node items in view come back: what that frame costs the UI thread is printed.
  const double zoom_in_cpu = thread_cpu_seconds();
  canvas->setProperty("zoom", 0.6);
  content->setPosition({0, 0});
  presented_after(window, [] {});
  std::printf("zoom in from the framed view to 0.6 (node items back): UI thread CPU %.2f ms\n",
              1e3 * (thread_cpu_seconds() - zoom_in_cpu));
  // Let the faces in view be painted (a few per frame since the frame budget) before timing anything.
  for (QElapsedTimer wait = started(); wait.elapsed() < 1500;)
    QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
  // LATTICE_BENCH_SHOT=file.png: the window as the timing starts, to look at what was timed (and
  // file-far.png zoomed out to 0.3).
  if (const QString shot = qEnvironmentVariable("LATTICE_BENCH_SHOT"); !shot.isEmpty() && count > 0 && !busy)
    window->grabWindow().save(shot);
  if (g_far_only) frames = 0;
  g_cpu = &r.pan_cpu;
  g_pass = "pan";
  for (int i = 0; i < frames; ++i)
    r.pan.push_back(presented_after(window, [&] { content->setX(content->x() + (i % 40 < 20 ? -12 : 12)); }));
  g_cpu = &r.zoom_cpu;
  g_pass = "zoom";
  // LATTICE_BENCH_TRACE=1: each frame of this pass (zoom, wall, CPU), to find the costly ones.
  const bool trace = qEnvironmentVariableIntValue("LATTICE_BENCH_TRACE") != 0;
  for (int i = 0; i < frames; ++i) {
    const double z = 0.3 + 0.5 * std::abs(std::sin(i * 0.05));
    r.zoom.push_back(presented_after(window, [&] { canvas->setProperty("zoom", z); }));
    if (trace) {
      int paints = 0, shown = 0;
      std::function<void(QQuickItem*)> walk = [&](QQuickItem* item) {
        if (auto* face = qobject_cast<lattice::editor::NodeFace*>(item)) {
          paints += face->paintCount();
          shown += face->isVisible();
        }
        for (QQuickItem* c : item->childItems()) walk(c);
      };
      walk(content);
      std::printf("zoom frame %3d  zoom %.3f  wall %7.2f ms  CPU %6.2f ms  frames presented %d  faces shown %3d  face paints "
                  "so far %4d\n", i, z, r.zoom.back(), r.zoom_cpu.back(), g_last_frames, shown, paints);
      std::fflush(stdout);  // in order with Qt's timing log (QSG_RENDER_TIMING) on stderr
    }
  }
  // Across detail levels: 0.6 -> 2.6 -> 0.6 in steps of 10%, again and again.
  g_cpu = &r.detail_cpu;
  g_pass = "zoom across detail levels";
  const int up = static_cast<int>(std::ceil(std::log(2.6 / 0.6) / std::log(1.1)));
  for (int i = 0; i < frames; ++i) {
    const int k = i % (2 * up), e = k < up ? k : 2 * up - k;
    const double z = 0.6 * std::pow(1.1, e);
    r.detail.push_back(presented_after(window, [&] { canvas->setProperty("zoom", z); }));
  }
  g_cpu = nullptr;
  // The gesture ends zoomed in: time every frame of the next second, in which faces may be repainted.
  g_cpu = &r.settle_cpu;
  g_pass = "the second after it";
  r.settle.push_back(presented_after(window, [&] { canvas->setProperty("zoom", 1.6); }));
  for (QElapsedTimer t = started(); t.elapsed() < 1000 && !g_far_only;)
    r.settle.push_back(presented_after(window, [] {}));
  g_cpu = nullptr;
  if (g_far_only) frames = far_frames;
  // Zoomed out to 0.3 (about 350 nodes in view): pan, then small zoom steps around it.
  canvas->setProperty("zoom", 0.6);
  content->setPosition({0, 0});
  presented_after(window, [] {});
  r.near_items = visible_items(content);
  canvas->setProperty("zoom", 0.3);
  presented_after(window, [] {});
  for (QElapsedTimer wait = started(); wait.elapsed() < 2500;)
    QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
  r.far_items = visible_items(content);
  if (const QString shot = qEnvironmentVariable("LATTICE_BENCH_SHOT"); !shot.isEmpty() && count > 0 && !busy)
    window->grabWindow().save(QString(shot).replace(".png", "-far.png"));
  g_cpu = &r.far_pan_cpu;
  g_pass = "pan at zoom 0.3";
  for (int i = 0; i < frames; ++i)
    r.far_pan.push_back(presented_after(window, [&] { content->setX(content->x() + (i % 40 < 20 ? -12 : 12)); }));
  g_cpu = &r.far_zoom_cpu;
  g_pass = "zoom 0.27-0.33";
  for (int i = 0; i < frames; ++i) {
    const double z = 0.3 + 0.03 * std::sin(i * 0.3);
    r.far_zoom.push_back(presented_after(window, [&] { canvas->setProperty("zoom", z); }));
  }
  g_cpu = nullptr;
  canvas->setProperty("zoom", 0.6);
  for (int i = 0; i < frames / 2; ++i) {
    content->setX(content->x() + (i % 20 < 10 ? -12 : 12));
    QElapsedTimer t;
    t.start();
    const QImage img = window->grabWindow();
    r.grab.push_back(static_cast<double>(t.nsecsElapsed()) / 1e6);
    if (img.isNull()) return false;
  }
  if (busy && g_model) {
    QObject::disconnect(again);
    std::printf("model runs completed during the passes: %d in %.1f s\n", model_runs, model_time.elapsed() / 1e3);
    doc->evaluator()->cancel();
    doc->evaluator()->waitForIdle(10000);
    if (model_runs == 0) return false;
  } else if (busy) {
    if (doc->nodes()->state("busy") != "running") return false;  // the whole pass ran during the evaluation
    doc->evaluator()->cancel();
    doc->evaluator()->waitForIdle(10000);
  }
  return true;
}

/// What FarNodeLayer does on the UI thread when one node's state or progress changes zoomed far out:
/// list every node's rectangles and make the mesh again (before), or patch that node's (now). Median of
/// `reps` runs each, in microseconds.
void far_layer_costs(int count, int reps = 200) {
  QTemporaryDir dir;
  const QString file = dir.filePath("grid.lattice");
  QFile f(file);
  if (!f.open(QIODevice::WriteOnly) || f.write(grid_graph(count)) < 0) return;
  f.close();
  lattice::editor::GraphDocument doc;
  doc.setAutoRun(false);
  if (!doc.open(file)) return;
  const lattice::editor::NodeListModel& model = *doc.nodes();
  lattice::editor::FarNodeStyle style;
  std::vector<size_t> starts;
  const auto all = lattice::editor::far_node_rects(model, style, &starts);
  lattice::editor::ColoredMesh mesh = lattice::editor::far_rect_mesh(all);
  std::vector<double> full, patch;
  volatile size_t sink = 0;
  for (int i = 0; i < reps; ++i) {
    const size_t row = static_cast<size_t>(i) % model.rows().size();
    doc.nodes()->setState(model.rows()[row].key, "running", (i % 10) / 10.0);
    QElapsedTimer t;
    t.start();
    const auto rects = lattice::editor::far_node_rects(model, style);
    sink = sink + lattice::editor::far_rect_mesh(rects).vertices.size();
    full.push_back(static_cast<double>(t.nsecsElapsed()) / 1e3);
    t.restart();
    std::vector<lattice::editor::FarRect> mine;
    lattice::editor::far_node_rects(model, model.rows()[row], style, mine);
    sink = sink + lattice::editor::far_rect_mesh_patch(mesh, all.size(), starts[row], mine).second;
    patch.push_back(static_cast<double>(t.nsecsElapsed()) / 1e3);
  }
  std::printf("far layer, one node's state changed (%zu rectangles): list all + mesh %.0f us, patch one node %.1f us "
              "(medians of %d)\n", all.size(), stats(full).median, stats(patch).median, reps);
}

}  // namespace

int main(int argc, char** argv) {
  TimedApp app(argc, argv);
  const int count = argc > 1 ? std::max(1, std::atoi(argv[1])) : 500;
  const int frames = argc > 2 ? std::max(10, std::atoi(argv[2])) : 120;
  const std::string mode = argc > 3 ? argv[3] : "";
  g_far_only = mode == "far";
  g_model = mode == "model";
  if (mode == "quick" || mode == "far" || mode == "busy" || mode == "model") {
    Result r;
    g_watch_events = mode == "busy" || mode == "model";
    if (const int slow = qEnvironmentVariableIntValue("LATTICE_BENCH_SLOW"); slow > 0) g_slow_ms = slow;
    if (!measure(count, frames, r, true, mode == "busy" || mode == "model")) return 1;
    if (g_model) std::printf("while evaluating examples/default.lattice's image chain at 1920x1080 again and again "
                             "(CPU per frame leaves out the evaluation's threads, which run niced):\n");
    if (mode == "busy") {
      std::printf("while evaluating (bench.busy, progress reported every millisecond):\n");
      far_layer_costs(count);
    }
    print("pan (change -> frameSwapped)", r.pan);
    print("zoom (change -> frameSwapped)", r.zoom);
    print("zoom across detail levels", r.detail);
    print("frames in the second after it", r.settle);
    print("pan at zoom 0.3", r.far_pan);
    print("zoom 0.27-0.33", r.far_zoom);
    print_cpu(r);
    if (g_watch_events) {
      std::printf("steps over %.0f ms: %zu\n", g_slow_ms, g_slow.size());
      for (const auto& l : g_slow) std::printf("  %s\n", l.c_str());
    }
    return 0;
  }
  // Baselines in the same run: the same window with an empty canvas (panels, grid, menus still drawn),
  // and the same graph with off-screen culling disabled.
  Result base, big, unculled, evaluating;
  if (!measure(0, frames, base) || !measure(count, frames, big) || !measure(count, frames, unculled, false) ||
      !measure(count, frames, evaluating, true, true)) {
    std::fprintf(stderr, "lattice-editor-bench: the editor window could not be created\n");
    return 1;
  }
  auto row = [](const char* what, const std::vector<double>& b, const std::vector<double>& v,
                const std::vector<double>& u) {
    print(what, v);
    std::printf("%-34s empty canvas median %7.2f ms (ratio %.2fx), without culling %7.2f ms (ratio %.2fx)\n", "",
                stats(b).median, stats(v).median / stats(b).median, stats(u).median, stats(v).median / stats(u).median);
  };
  row("pan (change -> frameSwapped)", base.pan, big.pan, unculled.pan);
  row("zoom (change -> frameSwapped)", base.zoom, big.zoom, unculled.zoom);
  row("pan (grabWindow: render+readback)", base.grab, big.grab, unculled.grab);
  auto busy_row = [&](const char* what, const std::vector<double>& idle, const std::vector<double>& v) {
    print(what, v);
    std::printf("%-34s idle median %7.2f ms (ratio %.2fx)\n", "", stats(idle).median, stats(v).median / stats(idle).median);
  };
  std::printf("CPU time of the process per frame (all threads), medians: pan %.2f ms (empty %.2f, no culling %.2f), "
              "zoom %.2f ms (empty %.2f, no culling %.2f)\n",
              stats(big.pan_cpu).median, stats(base.pan_cpu).median, stats(unculled.pan_cpu).median,
              stats(big.zoom_cpu).median, stats(base.zoom_cpu).median, stats(unculled.zoom_cpu).median);
  print("zoom across detail levels", big.detail);
  print("frames in the second after it", big.settle);
  print("pan at zoom 0.3", big.far_pan);
  print("zoom 0.27-0.33", big.far_zoom);
  print_cpu(big);
  busy_row("pan while evaluating", big.pan, evaluating.pan);
  busy_row("zoom while evaluating", big.zoom, evaluating.zoom);
  return 0;
}
