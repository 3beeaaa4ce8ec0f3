// Device residency end to end: the engine lends its memory cache to the environment, and the GPU service
// spills cached latents to host memory when the allocator's budget runs short (core/cache.h).
#include "nodes/gpu_service.h"

#include <gtest/gtest.h>

#include "core/document.h"
#include "core/engine.h"
#include "gpu/command_stream.h"
#include "gpu/ops/binary.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

// test.double_latent: 2·latent, computed on the device from its input there, as the samplers read theirs.
void register_double_latent() {
  if (NodeRegistry::instance().find("test.double_latent")) return;
  NodeDesc d;
  d.type = "test.double_latent";
  d.inputs = {{"latent", PortType::Latent, "latents"}};
  d.outputs = {{"latent", PortType::Latent, "2 x latents"}};
  d.evaluate = [](EvalContext& ctx) {
    gpu::Context& gc = gpu_context(ctx);
    const gpu::Tensor z = ctx.input_as<TensorValue>("latent").device(gc);
    gpu::CommandStream s(gc);
    const gpu::Tensor out = gpu::add(s, z, z);
    s.finish();
    ctx.set_output("latent", std::make_shared<TensorValue>(PortType::Latent, out));
  };
  NodeRegistry::instance().add(d);
}

const TensorValue& tensor(const Value& v) { return dynamic_cast<const TensorValue&>(*v); }

TEST(GpuService, CachedLatentsSpillToHostWhenTheDeviceBudgetRunsShort) {
  register_double_latent();
  // Three noise latents [1, 4, 64, 64] f32 (64 KiB each) and 2·a; the device budget holds three and a half.
  const Graph g = parse_graph(R"({"lattice": 1, "nodes": [
    {"id": "a", "type": "latent.noise", "params": {"width": 512, "height": 512, "channels": 4, "seed": 1}},
    {"id": "b", "type": "latent.noise", "params": {"width": 512, "height": 512, "channels": 4, "seed": 2}},
    {"id": "c", "type": "latent.noise", "params": {"width": 512, "height": 512, "channels": 4, "seed": 3}},
    {"id": "twice", "type": "test.double_latent", "inputs": {"latent": {"node": "a", "output": "latent"}}}]})");
  Environment env;
  env.set(std::make_shared<GpuService>());
  gpu::Allocator& alloc = env.get<GpuService>()->context().allocator();
  const uint64_t latent = 4 * 64 * 64 * 4, base = alloc.current_device_bytes();
  alloc.set_budget(base + latent * 7 / 2);
  MemoryCache memory;
  Engine engine(&memory);
  RenderOptions o;
  o.env = &env;
  std::map<std::string, Key128> keys;
  for (const auto& [id, k] : engine.keys(g, o)) keys[id] = k;

  RenderReport r;
  Value twice = engine.evaluate(g, "twice", "latent", o, &r);  // a, then 2·a: two latents on the device
  const std::vector<uint8_t> first = tensor(twice).host().data;
  engine.evaluate(g, "b", "latent", o, &r);
  EXPECT_EQ(r.spills, 0u);
  EXPECT_EQ(memory.device_used(), 3 * latent);

  // c does not fit beside them: a, the least recently used, moves to host memory; nothing is evicted.
  RenderReport rc;
  engine.evaluate(g, "c", "latent", o, &rc);
  EXPECT_EQ(rc.spills, 1u);
  EXPECT_EQ(rc.spilled_bytes, latent);
  EXPECT_EQ(memory.device_used(), 3 * latent);
  EXPECT_EQ(alloc.current_device_bytes(), base + 3 * latent);
  EXPECT_EQ(memory.size(), 4u);
  const CacheEntryPtr a = memory.lookup(keys.at("a"));  // the same key still hits
  ASSERT_TRUE(a);
  EXPECT_FALSE(tensor(*a->find("latent")).on_device());

  // 2·a again (its cached result dropped): a is uploaded again, which spills b (the least recently used
  // now), and the result is bit-identical to the one computed before any spill.
  memory.erase(keys.at("twice"));
  twice.reset();
  RenderReport rt;
  twice = engine.evaluate(g, "twice", "latent", o, &rt);
  EXPECT_EQ(rt.executed, 1);
  EXPECT_EQ(rt.spills, 1u);
  EXPECT_EQ(tensor(twice).host().data, first);
  EXPECT_TRUE(tensor(*a->find("latent")).on_device());
  EXPECT_FALSE(tensor(*memory.lookup(keys.at("b"))->find("latent")).on_device());
  EXPECT_EQ(memory.device_used(), 3 * latent);  // a (back), c, 2·a
  EXPECT_EQ(alloc.current_device_bytes(), base + 3 * latent);
  EXPECT_EQ(memory.spills(), 2u);
}

TEST(GpuService, WithoutALentCacheTheBudgetIsStillAnError) {
  // Outside a render nothing is lent: an allocation over budget fails as before, naming the budget.
  Environment env;
  env.set(std::make_shared<GpuService>());
  GpuService& service = *env.get<GpuService>();
  service.attach(env);
  gpu::Context& gc = service.context();
  gc.allocator().set_budget(gc.allocator().current_device_bytes() + 1024);
  EXPECT_THROW(gpu::Tensor::empty(gc, {1024}, gpu::DType::F32), std::exception);
}

}  // namespace
}  // namespace lattice
