#include "core/eval_context.h"

namespace lattice {

std::string substitute_frame(const std::string& pattern, int64_t frame) {
  std::string out;
  for (size_t i = 0; i < pattern.size();) {
    if (pattern[i] != '#') {
      out += pattern[i++];
      continue;
    }
    size_t j = i;
    while (j < pattern.size() && pattern[j] == '#') ++j;
    std::string num = std::to_string(frame < 0 ? -frame : frame);
    if (num.size() < j - i) num.insert(0, j - i - num.size(), '0');
    out += (frame < 0 ? "-" : "") + num;
    i = j;
  }
  return out;
}

const Json& ParamReader::get(std::string_view p) const {
  auto it = params_.find(p);
  if (it == params_.end()) throw_invalid(who() + " has no parameter '" + std::string(p) + "'", {id_});
  return *it;
}

double ParamReader::number(std::string_view p) const {
  const Json& v = get(p);
  if (!v.is_number()) throw_invalid(who() + ": parameter '" + std::string(p) + "' is not a number", {id_});
  return v.get<double>();
}

int64_t ParamReader::integer(std::string_view p) const {
  const Json& v = get(p);
  if (!v.is_number()) throw_invalid(who() + ": parameter '" + std::string(p) + "' is not an integer", {id_});
  return v.is_number_float() ? static_cast<int64_t>(v.get<double>()) : v.get<int64_t>();
}

uint64_t ParamReader::seed(std::string_view p) const {
  const Json& v = get(p);
  if (!v.is_number_integer()) throw_invalid(who() + ": parameter '" + std::string(p) + "' is not a seed", {id_});
  return v.get<uint64_t>();
}

bool ParamReader::flag(std::string_view p) const {
  const Json& v = get(p);
  if (!v.is_boolean()) throw_invalid(who() + ": parameter '" + std::string(p) + "' is not a boolean", {id_});
  return v.get<bool>();
}

std::string ParamReader::string(std::string_view p) const {
  const Json& v = get(p);
  if (!v.is_string()) throw_invalid(who() + ": parameter '" + std::string(p) + "' is not a string", {id_});
  return v.get<std::string>();
}

std::array<float, 4> ParamReader::color(std::string_view p) const {
  const Json& v = get(p);
  std::array<float, 4> c{0, 0, 0, 1};
  for (size_t i = 0; i < v.size() && i < 4; ++i) c[i] = v[i].get<float>();
  return c;
}

std::filesystem::path ParamReader::in_path(std::string_view p) const {
  std::filesystem::path path = substitute_frame(string(p), frame_);
  return path.is_absolute() || path.empty() ? path : base_dir_ / path;
}

std::filesystem::path ParamReader::out_path(std::string_view p) const {
  std::filesystem::path path = substitute_frame(string(p), frame_);
  return path.is_absolute() || path.empty() ? path : output_dir_ / path;
}

std::filesystem::path ParamReader::in_path_pattern(std::string_view p) const {
  std::filesystem::path path = string(p);
  return path.is_absolute() || path.empty() ? path : base_dir_ / path;
}

std::filesystem::path ParamReader::out_path_pattern(std::string_view p) const {
  std::filesystem::path path = string(p);
  return path.is_absolute() || path.empty() ? path : output_dir_ / path;
}

const Value& EvalContext::input(std::string_view name) const {
  auto it = inputs_.find(std::string(name));
  if (it == inputs_.end() || !it->second) fail("input '" + std::string(name) + "' is not connected");
  return it->second;
}

void EvalContext::set_output(std::string_view name, Value v) {
  if (!desc().output(name)) throw_eval(who() + " set unknown output '" + std::string(name) + "'", {node_id()});
  if (!v || v->type() != desc().output(name)->type)
    throw_eval(who() + ": output '" + std::string(name) + "' has the wrong type", {node_id()});
  for (auto& [n, old] : outputs_)
    if (n == name) {
      old = std::move(v);
      return;
    }
  outputs_.emplace_back(std::string(name), std::move(v));
}

void EvalContext::progress(double fraction, const std::string& message) const {
  if (observer_) observer_->node_progress(node_id(), fraction, message);
}

void EvalContext::step(int i, int total) const {
  if (observer_) observer_->node_step(node_id(), i, total);
}

bool EvalContext::wants_preview() const { return observer_ && observer_->wants_previews(); }

void EvalContext::preview(int step, int total, std::shared_ptr<const ImageData> image) const {
  if (observer_ && image) observer_->node_preview(node_id(), step, total, std::move(image));
}

void EvalContext::check_cancel() const {
  if (cancelled()) throw Error(ErrorKind::Cancelled, "cancelled", {node_id()});
}

Environment& EvalContext::env() const {
  static Environment empty;
  return env_ ? *env_ : empty;
}

const PlanInfo* PlanContext::input(std::string_view name) const {
  auto it = inputs_.find(std::string(name));
  return it == inputs_.end() ? nullptr : it->second;
}

}  // namespace lattice
