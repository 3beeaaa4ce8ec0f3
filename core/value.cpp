#include "core/value.h"

#include <array>
#include <mutex>
#include <vector>

namespace lattice {

namespace {
struct TypeName {
  PortType type;
  std::string_view name;
};
constexpr std::array<TypeName, 16> kNames{{
    {PortType::Number, "number"},
    {PortType::String, "string"},
    {PortType::Image, "image"},
    {PortType::Latent, "latent"},
    {PortType::Tensor, "tensor"},
    {PortType::Tensors, "tensors"},
    {PortType::Conditioning, "conditioning"},
    {PortType::TextEncoder, "text_encoder"},
    {PortType::DiT, "dit"},
    {PortType::VAE, "vae"},
    {PortType::Upsampler, "upsampler"},
    {PortType::Scheduler, "scheduler"},
    {PortType::LoRA, "lora"},
    {PortType::Video, "video"},
    {PortType::Audio, "audio"},
    {PortType::ImageEncoder, "image_encoder"},
}};

std::mutex g_deser_mutex;
std::array<Deserializer, kNames.size()>& deserializers() {
  static std::array<Deserializer, kNames.size()> d;
  return d;
}
}  // namespace

std::string_view port_type_name(PortType t) {
  for (const auto& n : kNames)
    if (n.type == t) return n.name;
  return "unknown";
}

std::optional<PortType> port_type_from_name(std::string_view name) {
  for (const auto& n : kNames)
    if (n.name == name) return n.type;
  return std::nullopt;
}

const std::vector<PortType>& all_port_types() {
  static const std::vector<PortType> all = [] {
    std::vector<PortType> v;
    for (const auto& n : kNames) v.push_back(n.type);
    return v;
  }();
  return all;
}

void register_deserializer(PortType t, Deserializer d) {
  std::lock_guard lock(g_deser_mutex);
  deserializers()[static_cast<size_t>(t)] = std::move(d);
}

void register_core_types();

const Deserializer* find_deserializer(PortType t) {
  static std::once_flag once;
  std::call_once(once, register_core_types);
  std::lock_guard lock(g_deser_mutex);
  const auto& d = deserializers()[static_cast<size_t>(t)];
  return d ? &d : nullptr;
}

}  // namespace lattice
