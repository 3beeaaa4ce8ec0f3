#include "nodes/models/lora_adapter.h"

#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "core/error.h"

namespace lattice {
namespace {

// Key suffix -> role. Matched whole, so ".lokr_w1" never matches a ".lokr_w1_a" key.
constexpr std::array<std::pair<const char*, const char*>, 30> kSuffixes = {{
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
  const WeightSource& file() const { return file_; }

 private:
  const WeightSource& file_;
  const std::string& name_;
  const AdapterModule& m_;
};

AdapterDelta lora(const ModuleReader& r, float strength, float& bias_scale) {
  if (!r.has("lora_down") || !r.has("lora_up")) r.fail(std::string("lacks its ") + (r.has("lora_down") ? "up (B)" : "down (A)") + " matrix");
  HostTensor down = r.file().load(r.key("lora_down")), up = r.file().load(r.key("lora_up"));
  if (down.shape.size() < 2 || up.shape.size() < 2 || cols(up) != rows(down))
    r.fail("has up " + up.shape_string() + " and down " + down.shape_string() + ", expected up [out, rank] and down [rank, in]");
  AdapterDelta d;
  d.what = "up " + up.shape_string() + " and down " + down.shape_string();
  const int64_t rank = rows(down);
  bias_scale = strength * r.alpha_over(rank);
  d.weight = WeightPatch{"", std::move(up), std::move(down), bias_scale};
  return d;
}

AdapterDelta loha(const ModuleReader& r, float strength) {
  const HostTensor w1a = r.matrix("hada_w1_a"), w1b = r.matrix("hada_w1_b"), w2a = r.matrix("hada_w2_a"), w2b = r.matrix("hada_w2_b");
  r.check_inner(w1a, "hada_w1_a", w1b, "hada_w1_b");
  r.check_inner(w2a, "hada_w2_a", w2b, "hada_w2_b");
  if (rows(w1a) != rows(w2a) || cols(w1b) != cols(w2b))
    r.fail("has products w1 [" + std::to_string(rows(w1a)) + ", " + std::to_string(cols(w1b)) + "] and w2 [" +
           std::to_string(rows(w2a)) + ", " + std::to_string(cols(w2b)) + "] of different shapes");
  AdapterDelta d;
  d.what = "hada_w1_a " + w1a.shape_string() + ", hada_w1_b " + w1b.shape_string() + ", hada_w2_a " + w2a.shape_string() +
           " and hada_w2_b " + w2b.shape_string();
  WeightPatch p{"", w1a, w1b, strength * r.alpha_over(rows(w1b)), WeightPatch::Kind::Hadamard, w2a, w2b};
  d.weight = std::move(p);
  return d;
}

// One Kronecker factor: `w` full, or the product `a`·`b`; sets rank to b's first dimension for a product.
void lokr_factor(const ModuleReader& r, const char* w, const char* a, const char* b, HostTensor& x, HostTensor& y,
                 int64_t& rank, std::string& what) {
  if (r.has(w) && (r.has(a) || r.has(b))) r.fail("has both '" + r.key(w) + "' and the factors " + a + "/" + b + " of it");
  if (r.has(w)) {
    x = r.matrix(w);
    what += std::string(what.empty() ? "" : ", ") + w + " " + x.shape_string();
    return;
  }
  if (!r.has(a) && !r.has(b)) r.fail(std::string("lacks ") + w + " (or its factors " + a + " and " + b + ")");
  x = r.matrix(a);
  y = r.matrix(b);
  r.check_inner(x, a, y, b);
  rank = rows(y);
  what += std::string(what.empty() ? "" : ", ") + a + " " + x.shape_string() + ", " + b + " " + y.shape_string();
}

AdapterDelta lokr(const ModuleReader& r, float strength) {
  AdapterDelta d;
  HostTensor a, b, c, e;
  int64_t rank1 = 0, rank2 = 0;
  lokr_factor(r, "lokr_w1", "lokr_w1_a", "lokr_w1_b", a, b, rank1, d.what);
  lokr_factor(r, "lokr_w2", "lokr_w2_a", "lokr_w2_b", c, e, rank2, d.what);
  // The rank that alpha divides: w2's when it is a product, else w1's; none (scale 1) when both are full.
  const int64_t rank = rank2 ? rank2 : rank1;
  const float scale = strength * (rank ? r.alpha_over(rank) : 1.0f);
  d.weight = WeightPatch{"", std::move(a), std::move(b), scale, WeightPatch::Kind::Kronecker, std::move(c), std::move(e)};
  return d;
}

}  // namespace

std::map<std::string, AdapterModule> read_adapter_modules(const WeightSource& file) {
  std::map<std::string, AdapterModule> modules;
  std::vector<std::string> unknown;
  for (const auto& key : file.names()) {
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
  if (modules.empty()) throw_invalid(file.origin() + ": no LoRA tensors in the file");
  return modules;
}

AdapterDelta read_adapter_delta(const WeightSource& file, const std::string& name, const AdapterModule& m, float strength) {
  const ModuleReader r(file, name, m);
  for (const char* role : {"hada_t1", "hada_t2", "lokr_t2", "lora_mid"})
    if (r.has(role))
      r.fail("has the Tucker factor '" + r.key(role) + "' of a convolution; Tucker-decomposed LyCORIS modules are not supported");
  if (r.has("dora_scale")) r.fail("is a DoRA module ('" + r.key("dora_scale") + "'); DoRA is not supported");
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

  AdapterDelta d;
  float lora_bias_scale = 0;
  if (is_lora) {
    d = lora(r, strength, lora_bias_scale);
  } else if (is_loha) {
    d = loha(r, strength);
  } else if (is_lokr) {
    d = lokr(r, strength);
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
  return d;
}

}  // namespace lattice
