// Evaluation overhead on a synthetic 1,000-node graph of cheap nodes (value.math), against a baseline
// in the same run: the same arithmetic done directly, without the engine.
//
//   engine/cold/1000      every node executes: validation, ordering, hashing, cache insert, evaluation
//   engine/cached/1000    all-cached re-render: validation, ordering, hashing, cache look-up only
//   engine/baseline/1000  the arithmetic alone (what the nodes compute), the floor
// Counter us_per_node = time per render / nodes.
#include <benchmark/benchmark.h>

#include "core/document.h"
#include "core/engine.h"
#include "core/types/basic.h"

namespace lattice {
namespace {

/// A layered graph: each value.math node adds two nodes of the previous layer (a DAG, not a chain,
/// so that ordering and fan-in are exercised).
Graph synthetic_graph(int n) {
  Graph g;
  const int width = 10;
  for (int i = 0; i < n; ++i) {
    Node node;
    node.id = "n" + std::to_string(i);
    if (i < width) {
      node.type = "value.number";
      node.params["value"] = i;
    } else {
      node.type = "value.math";
      node.params["op"] = (i % 3 == 0) ? "mul" : "add";
      node.inputs["a"] = Connection{"n" + std::to_string(i - width), "value"};
      node.inputs["b"] = Connection{"n" + std::to_string(i - width + (i % width == width - 1 ? -(width - 1) : 1)), "value"};
    }
    g.nodes.push_back(std::move(node));
  }
  return g;
}

RenderOptions targets_all(const Graph& g) {
  RenderOptions o;
  for (size_t i = g.nodes.size() - 10; i < g.nodes.size(); ++i) o.targets.push_back(g.nodes[i].id);
  return o;
}

void BM_EngineCold(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Graph g = synthetic_graph(n);
  RenderOptions o = targets_all(g);
  for (auto _ : state) {
    MemoryCache mem;
    Engine e(&mem);
    auto r = e.render(g, o);
    benchmark::DoNotOptimize(r.executed);
  }
  state.counters["us_per_node"] = benchmark::Counter(static_cast<double>(state.iterations()) * n * 1e-6,
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_EngineCold)->Name("engine/cold")->Arg(1000)->Unit(benchmark::kMillisecond);

void BM_EngineCached(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Graph g = synthetic_graph(n);
  RenderOptions o = targets_all(g);
  MemoryCache mem;
  Engine e(&mem);
  e.render(g, o);
  for (auto _ : state) {
    auto r = e.render(g, o);
    if (r.executed != 0) state.SkipWithError("cached render executed nodes");
    benchmark::DoNotOptimize(r.cached);
  }
  state.counters["us_per_node"] = benchmark::Counter(static_cast<double>(state.iterations()) * n * 1e-6,
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_EngineCached)->Name("engine/cached")->Arg(1000)->Unit(benchmark::kMillisecond);

void BM_Baseline(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Graph g = synthetic_graph(n);
  for (auto _ : state) {
    // Same values, same allocation of result objects, no engine.
    std::vector<Value> v(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& node = g.nodes[i];
      if (node.type == "value.number") {
        v[i] = make_number(node.params["value"].get<double>());
      } else {
        const double a = static_cast<const NumberData&>(*v[std::stoul(node.inputs.at("a").node.substr(1))]).value;
        const double b = static_cast<const NumberData&>(*v[std::stoul(node.inputs.at("b").node.substr(1))]).value;
        v[i] = make_number(node.params["op"] == "mul" ? a * b : a + b);
      }
    }
    benchmark::DoNotOptimize(v.back());
  }
  state.counters["us_per_node"] = benchmark::Counter(static_cast<double>(state.iterations()) * n * 1e-6,
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Baseline)->Name("engine/baseline")->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace lattice
