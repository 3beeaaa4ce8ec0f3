#include "nodes/types/model_handles.h"

#include "core/bytes.h"
#include "core/types/tensor.h"

namespace lattice {

bool ConditioningData::serialize(std::string& out) const {
  std::string a, b;
  TensorData(prompt_embeds).serialize(a);
  TensorData(pooled).serialize(b);
  ByteWriter w(out);
  w.str(a);
  w.str(b);
  return true;
}

void register_conditioning_type() {
  static const bool once = [] {
    register_deserializer(PortType::Conditioning, [](std::string_view bytes) -> Value {
      ByteReader r(bytes, "conditioning");
      const std::string a = r.str(), b = r.str();
      const Deserializer* t = find_deserializer(PortType::Tensor);
      auto pa = (*t)(a), pb = (*t)(b);
      return std::make_shared<ConditioningData>(dynamic_cast<const TensorData&>(*pa).tensor,
                                                dynamic_cast<const TensorData&>(*pb).tensor);
    });
    return true;
  }();
  (void)once;
}

}  // namespace lattice
