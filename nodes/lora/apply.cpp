// lora.apply: a FLUX, Wan 2.1 or LTX-Video transformer with a LoRA merged into its weights (W + strength·ΔW,
// ΔW = (alpha/rank)·up·down for a plain LoRA; LyCORIS and full-difference formats in nodes/models/lora_adapter.h),
// as a new handle that shares the base checkpoint's mapping; the merge happens when the matrices reach the
// device (nodes/models/lora.h for the key conventions). Strength 0 passes the base model through unchanged,
// so that it is the base bit for bit and needs no second device copy. A FLUX structural-control LoRA
// (Canny/Depth) also widens x_embedder for the control latent: the handle then takes flux.sample's 'control'.
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

// The merge for one kind of transformer handle H: `merge(lora, strength)` makes the new handle from the base one.
template <class H, class Merge>
void apply(EvalContext& ctx, Merge merge) {
  const auto path = ctx.in_path("path");
  if (path.empty()) throw_invalid(ctx.who() + ": parameter 'path' is empty", {ctx.node_id()});
  const auto strength = static_cast<float>(ctx.number("strength"));
  // Read and check the file even at strength 0: a wrong LoRA fails whatever its strength.
  const WeightSource lora = WeightSource::open(path);
  std::shared_ptr<H> out;
  try {
    out = merge(lora, strength, " + LoRA " + path.filename().string() + " x" + strength_text(strength));
  } catch (const Error& e) {
    throw_invalid(ctx.who() + ": " + e.what(), {ctx.node_id()});
  }
  if (strength == 0) {
    ctx.set_output("dit", ctx.input("dit"));
    return;
  }
  ctx.set_output("dit", std::move(out));
}

using PatchFn = WeightPatches (*)(const WeightSource& lora, const WeightSource& model, float strength);

// Wan and LTX: the LoRA's patches after the base's (LoRAs stack), on the base's weights and config.
template <class H>
void apply_patches(EvalContext& ctx, const H& base, PatchFn patch) {
  apply<H>(ctx, [&](const WeightSource& lora, float strength, const std::string& suffix) {
    auto all = std::make_shared<WeightPatches>();
    if (base.patches()) *all = *base.patches();
    WeightPatches mine = patch(lora, base.weights(), strength);
    all->insert(all->end(), std::make_move_iterator(mine.begin()), std::make_move_iterator(mine.end()));
    return std::make_shared<H>(base.weights_ptr(), base.config(), base.origin() + suffix, std::move(all),
                               base.matrix_dtype());
  });
}

// FLUX: any LoRA, control LoRAs included (nodes/models/lora.h, apply_flux_lora): the handle may get a widened
// view of the weights and a config whose x_embedder takes the control latent too.
void apply_flux(EvalContext& ctx, const FluxTransformerHandle& base) {
  apply<FluxTransformerHandle>(ctx, [&](const WeightSource& lora, float strength, const std::string& suffix) {
    FluxLoraResult r = apply_flux_lora(lora, base.weights_ptr(), base.patches().get(), strength);
    FluxConfig config = base.config();
    config.in_channels = r.in_channels;
    const bool control = config.control_channels() > 0 && base.config().control_channels() == 0;
    return std::make_shared<FluxTransformerHandle>(r.weights, config, base.origin() + (control ? " (control)" : "") + suffix,
                                                   std::make_shared<WeightPatches>(std::move(r.patches)), base.matrix_dtype());
  });
}

NodeDesc make() {
  NodeDesc d;
  d.type = "lora.apply";
  d.category = "LoRA";
  d.description = "Merge a LoRA (diffusers/PEFT, kohya, ComfyUI or original-checkpoint keys; LoRA, LyCORIS LoHa/LoKr incl. Tucker, DoRA, "
                  ".diff/.diff_b) into a FLUX, Wan 2.1 or LTX-Video transformer; FLUX Canny/Depth control LoRAs widen its input "
                  "for flux.sample's 'control'";
  d.inputs = {{"dit", PortType::DiT, "the transformer to modify (flux, wan or ltx .load_transformer)"}};
  d.outputs = {{"dit", PortType::DiT, "the transformer with the LoRA merged; weights reach the device on first use"}};
  d.params = {{"path", ParamType::InPath, "", "LoRA .safetensors file"},
              {"strength", ParamType::Float, 1.0, "multiplies the LoRA's change to the weights", -10, 10}};
  // A handle's persistence is its files; the merge is redone from them.
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    const Data* in = ctx.input("dit").get();
    if (const auto* flux = dynamic_cast<const FluxTransformerHandle*>(in)) return apply_flux(ctx, *flux);
    if (const auto* wan = dynamic_cast<const WanTransformerHandle*>(in)) return apply_patches(ctx, *wan, wan_lora_patches);
    if (const auto* ltx = dynamic_cast<const LtxTransformerHandle*>(in)) return apply_patches(ctx, *ltx, ltx_lora_patches);
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
