// lora.apply: a FLUX, Wan 2.1 or LTX-Video transformer with a LoRA merged into its weights (W + strength·ΔW,
// ΔW = (alpha/rank)·up·down for a plain LoRA; LyCORIS and full-difference formats in nodes/models/lora_adapter.h),
// as a new handle that shares the base checkpoint's mapping; the merge happens when the matrices reach the
// device (nodes/models/lora.h for the key conventions). Strength 0 passes the base model through unchanged,
// so that it is the base bit for bit and needs no second device copy.
#include <sstream>

#include "core/eval_context.h"
#include "nodes/models/lora.h"
#include "nodes/types/ltx_handles.h"
#include "nodes/types/model_handles.h"
#include "nodes/types/wan_handles.h"

namespace lattice {
namespace {

std::string strength_text(double s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

using PatchFn = WeightPatches (*)(const WeightSource& lora, const WeightSource& model, float strength);

// The merge for one kind of transformer handle H.
template <class H>
void apply(EvalContext& ctx, const H& base, PatchFn patch) {
  const auto path = ctx.in_path("path");
  if (path.empty()) throw_invalid(ctx.who() + ": parameter 'path' is empty", {ctx.node_id()});
  const auto strength = static_cast<float>(ctx.number("strength"));
  // Read and check the file even at strength 0: a wrong LoRA fails whatever its strength.
  const WeightSource lora = WeightSource::open(path);
  WeightPatches patches;
  try {
    patches = patch(lora, base.weights(), strength);
  } catch (const Error& e) {
    throw_invalid(ctx.who() + ": " + e.what(), {ctx.node_id()});
  }
  if (strength == 0) {
    ctx.set_output("dit", ctx.input("dit"));
    return;
  }
  auto all = std::make_shared<WeightPatches>();
  if (base.patches()) *all = *base.patches();  // LoRAs stack
  all->insert(all->end(), std::make_move_iterator(patches.begin()), std::make_move_iterator(patches.end()));
  const std::string origin = base.origin() + " + LoRA " + path.filename().string() + " x" + strength_text(strength);
  ctx.set_output("dit", std::make_shared<H>(base.weights_ptr(), base.config(), origin, std::move(all), base.matrix_dtype()));
}

NodeDesc make() {
  NodeDesc d;
  d.type = "lora.apply";
  d.category = "LoRA";
  d.description = "Merge a LoRA (diffusers/PEFT, kohya, ComfyUI or original-checkpoint keys; LoRA, LyCORIS LoHa/LoKr incl. Tucker, DoRA, "
                  ".diff/.diff_b) into a FLUX, Wan 2.1 or LTX-Video transformer";
  d.inputs = {{"dit", PortType::DiT, "the transformer to modify (flux, wan or ltx .load_transformer)"}};
  d.outputs = {{"dit", PortType::DiT, "the transformer with the LoRA merged; weights reach the device on first use"}};
  d.params = {{"path", ParamType::InPath, "", "LoRA .safetensors file"},
              {"strength", ParamType::Float, 1.0, "multiplies the LoRA's change to the weights", -10, 10}};
  // A handle's persistence is its files; the merge is redone from them.
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    const Data* in = ctx.input("dit").get();
    if (const auto* flux = dynamic_cast<const FluxTransformerHandle*>(in)) return apply(ctx, *flux, flux_lora_patches);
    if (const auto* wan = dynamic_cast<const WanTransformerHandle*>(in)) return apply(ctx, *wan, wan_lora_patches);
    if (const auto* ltx = dynamic_cast<const LtxTransformerHandle*>(in)) return apply(ctx, *ltx, ltx_lora_patches);
    ctx.fail("input 'dit' holds " + in->describe() + "; LoRAs apply to FLUX, Wan 2.1 and LTX-Video transformers");
  };
  d.plan = [](PlanContext& ctx) {
    PlanInfo p;
    if (const PlanInfo* in = ctx.input("dit")) p = *in;
    p.shape += " + LoRA " + ctx.in_path("path").filename().string();
    ctx.set_output("dit", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
