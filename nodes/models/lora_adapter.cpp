#include "nodes/models/lora_adapter.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "core/error.h"

namespace lattice {
namespace {

// Key suffix -> role. Matched whole, so ".lokr_w1" never matches a ".lokr_w1_a" key.
constexpr std::array<std::pair<const char*, const char*>, 33> kSuffixes = {{
    {".lora_A.weight", "lora_down"},   {".lora_B.weight", "lora_up"},     {".lora_down.weight", "lora_down"},
    {".lora_up.weight", "lora_up"},    {".lora.down.weight", "lora_down"}, {".lora.up.weight", "lora_up"},
    {".lora_B.bias", "lora_up_bias"},  {".lora_up.bias", "lora_up_bias"}, {".lora.up.bias", "lora_up_bias"},
    {".alpha", "alpha"},               {".hada_w1_a", "hada_w1_a"},       {".hada_w1_b", "hada_w1_b"},
    {".hada_w2_a", "hada_w2_a"},       {".hada_w2_b", "hada_w2_b"},       {".hada_t1", "hada_t1"},
    {".hada_t2", "hada_t2"},           {".lokr_w1", "lokr_w1"},           {".lokr_w1_a", "lokr_w1_a"},
    {".lokr_w1_b", "lokr_w1_b"},       {".lokr_w2", "lokr_w2"},           {".lokr_w2_a", "lokr_w2_a"},
    {".lokr_w2_b", "lokr_w2_b"},       {".lokr_t2", "lokr_t2"},           {".diff", "diff"},
    {".diff_b", "diff_b"},             {".w_norm", "diff"},               {".b_norm", "diff_b"},
    {".dora_scale", "dora_scale"},     {".lora_mid.weight", "lora_mid"},  {".lora_A.bias", "lora_down_bias"},
    {".lora_magnitude_vector", "dora_scale"}, {".lora_magnitude_vector.weight", "dora_scale"},
    {".wd_for_diff", "wd_for_diff"},
}};

}  // namespace

std::string quoted_list(const std::vector<std::string>& v, size_t n) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < n; ++i) s += (i ? ", '" : "'") + v[i] + "'";
  if (v.size() > n) s += " and " + std::to_string(v.size() - n) + " more";
  return s;
}

namespace {

int64_t rows(const HostTensor& t) { return matrix_view(t.shape).first; }
int64_t cols(const HostTensor& t) { return matrix_view(t.shape).second; }

// x read as a matrix [n, m], transposed: f32 [m, n].
HostTensor transposed(const HostTensor& x) {
  const int64_t n = rows(x), m = cols(x);
  const std::vector<float> v = x.to_f32();
  std::vector<float> out(v.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) out[static_cast<size_t>(j * n + i)] = v[static_cast<size_t>(i * m + j)];
  return HostTensor::from_f32({m, n}, out);
}

// A Tucker core t [I, J, k...] contracted with b, read as a matrix [J, C], over J: f32 [I, C·K], K = Πk, so that
// column c·K + k is Σ_j t[i, j, k]·b[j, c] (the kernel position varies fastest, as in a flattened kernel [C, k...]).
HostTensor tucker_contract(const HostTensor& t, const HostTensor& b) {
  const int64_t I = t.shape[0], J = t.shape[1], K = t.numel() / std::max<int64_t>(1, I * J), C = cols(b);
  const std::vector<float> tv = t.to_f32(), bv = b.to_f32();
  std::vector<float> out(static_cast<size_t>(I * C * K), 0.0f);
  for (int64_t i = 0; i < I; ++i)
    for (int64_t j = 0; j < J; ++j)
      for (int64_t c = 0; c < C; ++c) {
        const float x = bv[static_cast<size_t>(j * C + c)];
        if (x == 0) continue;
        const float* tk = tv.data() + (i * J + j) * K;
        float* o = out.data() + (i * C + c) * K;
        for (int64_t k = 0; k < K; ++k) o[k] += tk[k] * x;
      }
  return HostTensor::from_f32({I, C * K}, out);
}

// Reads the tensors of one module, failing with the file and key in every message.
class ModuleReader {
 public:
  ModuleReader(const WeightSource& file, const std::string& name, const AdapterModule& m) : file_(file), name_(name), m_(m) {}
  bool has(const char* role) const { return m_.keys.count(role) > 0; }
  const std::string& key(const char* role) const { return m_.keys.at(role); }
  [[noreturn]] void fail(const std::string& what) const {
    throw_invalid(file_.origin() + ": LoRA module '" + name_ + "' " + what);
  }
  // A factor of at least two dimensions (a matrix, or a convolution kernel read as one).
  HostTensor matrix(const char* role) const {
    if (!has(role)) fail("lacks its '" + std::string(role) + "' tensor ('" + name_ + "." + role + "')");
    HostTensor t = file_.load(key(role));
    if (t.shape.size() < 2) fail("has '" + key(role) + "' of shape " + t.shape_string() + ", expected a matrix");
    return t;
  }
  // alpha/rank, or 1 without an alpha tensor.
  float alpha_over(int64_t rank) const {
    if (!has("alpha")) return 1.0f;
    const HostTensor a = file_.load(key("alpha"));
    if (a.numel() != 1) throw_invalid(file_.origin() + ": '" + key("alpha") + "' should be a scalar, it has shape " + a.shape_string());
    return a.to_f32()[0] / static_cast<float>(rank);
  }
  // Factors x [n, r] and y [r, m] of one product, by role.
  void check_inner(const HostTensor& x, const char* xr, const HostTensor& y, const char* yr) const {
    if (cols(x) != rows(y))
      fail("has '" + key(xr) + "' " + x.shape_string() + " and '" + key(yr) + "' " + y.shape_string() +
           ", whose inner dimensions differ (expected [n, rank] and [rank, m])");
  }
  // The Tucker core `role` [I, J, k...] for factors x [I, ...] (rows) and y [J, ...] (rows): x read as [I, n]
  // and y as [J, m] give the product transposed(x)·tucker_contract(t, y) [n, m·K].
  HostTensor core(const char* role, const HostTensor& x, const char* xr, const HostTensor& y, const char* yr) const {
    HostTensor t = matrix(role);
    if (t.shape.size() < 3 || t.shape[0] != rows(x) || t.shape[1] != rows(y))
      fail("has the Tucker core '" + key(role) + "' " + t.shape_string() + " for '" + key(xr) + "' " + x.shape_string() + " and '" +
           key(yr) + "' " + y.shape_string() + " (expected a core [" + std::to_string(rows(x)) + ", " + std::to_string(rows(y)) +
           ", kernel...] of a convolution)");
    return t;
  }
  const WeightSource& file() const { return file_; }

 private:
  const WeightSource& file_;
  const std::string& name_;
  const AdapterModule& m_;
};

AdapterDelta lora(const ModuleReader& r, float strength, float& bias_scale) {
  if (!r.has("lora_down") || !r.has("lora_up")) r.fail(std::string("lacks its ") + (r.has("lora_down") ? "up (B)" : "down (A)") + " matrix");
  HostTensor down = r.file().load(r.key("lora_down")), up = r.file().load(r.key("lora_up"));
  AdapterDelta d;
  const int64_t rank = down.shape.empty() ? 0 : rows(down);  // alpha divides down's rank, with a core too (ComfyUI)
  if (r.has("lora_mid")) {
    // LoCon Tucker: ΔW[o, i, k] = Σ up[o, m]·mid[m, n, k]·down[n, i]; the kernel lives in mid, up and down are 1×1.
    auto one_by_one = [](const HostTensor& t) {
      return t.shape.size() >= 2 && std::all_of(t.shape.begin() + 2, t.shape.end(), [](int64_t k) { return k == 1; });
    };
    if (!one_by_one(down) || !one_by_one(up))
      r.fail("has up " + up.shape_string() + " and down " + down.shape_string() + ", expected 1x1 factors around its Tucker core");
    const HostTensor mid = r.matrix("lora_mid");
    if (mid.shape.size() < 3 || mid.shape[1] != rows(down) || mid.shape[0] != cols(up))
      r.fail("has the Tucker core '" + r.key("lora_mid") + "' " + mid.shape_string() + " for up " + up.shape_string() + " and down " +
             down.shape_string() + " (expected [up's rank, down's rank, kernel...] of a convolution)");
    d.what = "up " + up.shape_string() + ", mid " + mid.shape_string() + " and down " + down.shape_string();
    down = tucker_contract(mid, down);
  } else {
    if (down.shape.size() < 2 || up.shape.size() < 2 || cols(up) != rows(down))
      r.fail("has up " + up.shape_string() + " and down " + down.shape_string() + ", expected up [out, rank] and down [rank, in]");
    d.what = "up " + up.shape_string() + " and down " + down.shape_string();
  }
  bias_scale = strength * r.alpha_over(rank);
  d.weight = WeightPatch{"", std::move(up), std::move(down), bias_scale};
  return d;
}

AdapterDelta loha(const ModuleReader& r, float strength) {
  HostTensor w1a = r.matrix("hada_w1_a"), w1b = r.matrix("hada_w1_b"), w2a = r.matrix("hada_w2_a"), w2b = r.matrix("hada_w2_b");
  const int64_t rank = rows(w1b);
  std::string cores;
  if (r.has("hada_t1") || r.has("hada_t2")) {
    // Tucker: w = w_aᵀ·(t ×_J w_b), w_a [rank, out], w_b [rank, in], t [rank, rank, kernel...].
    const HostTensor t1 = r.core("hada_t1", w1a, "hada_w1_a", w1b, "hada_w1_b"), t2 = r.core("hada_t2", w2a, "hada_w2_a", w2b, "hada_w2_b");
    cores = ", hada_t1 " + t1.shape_string() + ", hada_t2 " + t2.shape_string();
    w1b = tucker_contract(t1, w1b);
    w2b = tucker_contract(t2, w2b);
    w1a = transposed(w1a);
    w2a = transposed(w2a);
  }
  r.check_inner(w1a, "hada_w1_a", w1b, "hada_w1_b");
  r.check_inner(w2a, "hada_w2_a", w2b, "hada_w2_b");
  if (rows(w1a) != rows(w2a) || cols(w1b) != cols(w2b))
    r.fail("has products w1 [" + std::to_string(rows(w1a)) + ", " + std::to_string(cols(w1b)) + "] and w2 [" +
           std::to_string(rows(w2a)) + ", " + std::to_string(cols(w2b)) + "] of different shapes");
  AdapterDelta d;
  d.what = "hada_w1_a " + w1a.shape_string() + ", hada_w1_b " + w1b.shape_string() + ", hada_w2_a " + w2a.shape_string() +
           " and hada_w2_b " + w2b.shape_string() + cores;
  WeightPatch p{"", w1a, w1b, strength * r.alpha_over(rank), WeightPatch::Kind::Hadamard, w2a, w2b};
  d.weight = std::move(p);
  return d;
}

// One Kronecker factor: `w` full, or the product `a`·`b` (around the Tucker core `t` when the file has one); sets
// rank to b's first dimension for a product.
void lokr_factor(const ModuleReader& r, const char* w, const char* a, const char* b, const char* t, HostTensor& x, HostTensor& y,
                 int64_t& rank, std::string& what) {
  if (r.has(w) && (r.has(a) || r.has(b))) r.fail("has both '" + r.key(w) + "' and the factors " + a + "/" + b + " of it");
  if (t && r.has(t) && r.has(w)) r.fail("has the Tucker core '" + r.key(t) + "' but a full '" + r.key(w) + "' instead of factors");
  if (r.has(w)) {
    x = r.matrix(w);
    what += std::string(what.empty() ? "" : ", ") + w + " " + x.shape_string();
    return;
  }
  if (!r.has(a) && !r.has(b)) r.fail(std::string("lacks ") + w + " (or its factors " + a + " and " + b + ")");
  x = r.matrix(a);
  y = r.matrix(b);
  rank = rows(y);
  what += std::string(what.empty() ? "" : ", ") + a + " " + x.shape_string() + ", " + b + " " + y.shape_string();
  if (t && r.has(t)) {
    // Tucker (w2 of a convolution): w2 = w2_aᵀ·(t2 ×_J w2_b), w2_a [rank, out], w2_b [rank, in].
    const HostTensor core = r.core(t, x, a, y, b);
    what += std::string(", ") + t + " " + core.shape_string();
    y = tucker_contract(core, y);
    x = transposed(x);
  }
  r.check_inner(x, a, y, b);
}

AdapterDelta lokr(const ModuleReader& r, float strength) {
  AdapterDelta d;
  HostTensor a, b, c, e;
  int64_t rank1 = 0, rank2 = 0;
  lokr_factor(r, "lokr_w1", "lokr_w1_a", "lokr_w1_b", nullptr, a, b, rank1, d.what);
  lokr_factor(r, "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2", c, e, rank2, d.what);
  // The rank that alpha divides: w2's when it is a product, else w1's; none (scale 1) when both are full.
  const int64_t rank = rank2 ? rank2 : rank1;
  const float scale = strength * (rank ? r.alpha_over(rank) : 1.0f);
  d.weight = WeightPatch{"", std::move(a), std::move(b), scale, WeightPatch::Kind::Kronecker, std::move(c), std::move(e)};
  return d;
}

}  // namespace

std::map<std::string, AdapterModule> read_adapter_modules(const WeightSource& file,
                                                          const std::function<bool(const std::string&)>& skip) {
  std::map<std::string, AdapterModule> modules;
  std::vector<std::string> unknown;
  size_t skipped = 0;
  for (const auto& key : file.names()) {
    if (skip && skip(key)) {
      ++skipped;
      continue;
    }
    bool known = false;
    for (const auto& [suffix, role] : kSuffixes) {
      const size_t n = std::strlen(suffix);
      if (key.size() <= n || key.compare(key.size() - n, n, suffix) != 0) continue;
      const std::string module = key.substr(0, key.size() - n);
      const auto [it, fresh] = modules[module].keys.emplace(role, key);
      if (!fresh)
        throw_invalid(file.origin() + ": LoRA module '" + module + "' has two '" + role + "' tensors: '" + it->second + "' and '" + key + "'");
      known = true;
      break;
    }
    if (!known) unknown.push_back(key);
  }
  if (!unknown.empty())
    throw_invalid(file.origin() + ": " + std::to_string(unknown.size()) +
                  " tensor(s) are no LoRA factors (.lora_A/.lora_B, .lora_down/.lora_up, .alpha, LyCORIS .hada_*/.lokr_*, "
                  ".diff, .diff_b): " + quoted_list(unknown));
  if (modules.empty() && skipped == 0) throw_invalid(file.origin() + ": no LoRA tensors in the file");
  return modules;
}

AdapterDelta read_adapter_delta(const WeightSource& file, const std::string& name, const AdapterModule& m, float strength) {
  const ModuleReader r(file, name, m);
  if (r.has("lora_down_bias")) r.fail("has a bias on its down (A) matrix ('" + r.key("lora_down_bias") + "'), which no merge defines");

  auto any = [&](std::initializer_list<const char*> roles) {
    for (const char* x : roles)
      if (r.has(x)) return true;
    return false;
  };
  const bool is_lora = any({"lora_down", "lora_up"}), is_loha = any({"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"}),
             is_lokr = any({"lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b"}), is_diff = r.has("diff");
  if (int(is_lora) + int(is_loha) + int(is_lokr) + int(is_diff) > 1)
    r.fail("mixes formats (LoRA, LoHa, LoKr, full difference) in one module");

  for (const auto& [role, format] : {std::pair{"lora_mid", is_lora}, std::pair{"hada_t1", is_loha}, std::pair{"hada_t2", is_loha},
                                      std::pair{"lokr_t2", is_lokr}})
    if (r.has(role) && !format) r.fail("has the Tucker core '" + r.key(role) + "' but not the factors it belongs to");
  if (r.has("wd_for_diff"))
    r.fail("has '" + r.key("wd_for_diff") + "': its DoRA magnitude decomposes the difference rather than the merged weight "
           "(LyCORIS wd_for_diff), which is not supported");
  const bool dora = r.has("dora_scale");
  if (dora && !is_lora && !is_loha && !is_lokr)
    r.fail("has the DoRA magnitude '" + r.key("dora_scale") + "' but no LoRA, LoHa or LoKr factors to decompose");

  AdapterDelta d;
  float lora_bias_scale = 0;
  // A DoRA module's ΔW scale is alpha/rank alone: strength applies to the decomposed weight's change (ComfyUI).
  const float factor_strength = dora ? 1.0f : strength;
  if (is_lora) {
    d = lora(r, factor_strength, lora_bias_scale);
    if (dora) lora_bias_scale *= strength;
  } else if (is_loha) {
    d = loha(r, factor_strength);
  } else if (is_lokr) {
    d = lokr(r, factor_strength);
  } else if (is_diff) {
    HostTensor diff = file.load(r.key("diff"));
    d.what = "diff " + diff.shape_string();
    d.full = true;
    d.weight = WeightPatch{"", std::move(diff), {}, strength};
  } else if (r.has("lora_up_bias")) {
    r.fail("has '" + r.key("lora_up_bias") + "' but no up (B) and down (A) matrices");
  } else if (!r.has("diff_b")) {
    r.fail("has only '" + m.keys.begin()->second + "', no factors");
  }

  if (r.has("lora_up_bias") && r.has("diff_b"))
    r.fail("has two bias changes, '" + r.key("lora_up_bias") + "' and '" + r.key("diff_b") + "'");
  for (const auto& [role, scale] : {std::pair{"lora_up_bias", lora_bias_scale}, std::pair{"diff_b", strength}}) {
    if (!r.has(role)) continue;
    HostTensor b = file.load(r.key(role));
    if (b.shape.size() != 1) r.fail("has the bias change '" + r.key(role) + "' of shape " + b.shape_string() + ", expected a vector");
    d.what += std::string(d.what.empty() ? "" : " and ") + "bias " + b.shape_string();
    d.bias = WeightPatch{"", std::move(b), {}, scale};
  }
  if (!d.weight && r.has("alpha")) r.fail("has '" + r.key("alpha") + "' but no weight factors");
  if (dora) {
    HostTensor mag = file.load(r.key("dora_scale"));
    if (mag.numel() < 1) r.fail("has the empty DoRA magnitude '" + r.key("dora_scale") + "'");
    d.what += ", dora_scale " + mag.shape_string();
    d.weight->magnitude = std::move(mag);
    d.weight->strength = strength;
    d.dora_key = r.key("dora_scale");
  }
  return d;
}

}  // namespace lattice
