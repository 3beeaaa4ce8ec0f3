// Disk-cache deserializers for the value types core/ defines. Called once from find_deserializer().
#include <cstring>

#include "core/bytes.h"
#include "core/types/basic.h"
#include "core/types/image.h"
#include "core/types/tensor.h"
#include "core/types/video.h"

namespace lattice {

HostTensor read_tensor(ByteReader& r);

void register_core_types() {
  register_deserializer(PortType::Number, [](std::string_view b) -> Value {
    ByteReader r(b, "number");
    return make_number(r.pod<double>());
  });
  register_deserializer(PortType::String, [](std::string_view b) -> Value {
    ByteReader r(b, "string");
    return make_string(r.str());
  });
  register_deserializer(PortType::Image, [](std::string_view b) -> Value {
    ByteReader r(b, "image");
    return read_image(r);
  });
  register_deserializer(PortType::Video, deserialize_video);
  register_deserializer(PortType::Audio, deserialize_audio);
  register_deserializer(PortType::Tensor, [](std::string_view b) -> Value {
    ByteReader r(b, "tensor");
    return std::make_shared<TensorData>(read_tensor(r));
  });
  register_deserializer(PortType::Tensors, [](std::string_view b) -> Value {
    ByteReader r(b, "tensor set");
    auto n = r.pod<uint64_t>();
    if (n > (1u << 20)) throw_invalid("tensor count out of range in cached data");
    std::vector<TensorSetData::Entry> e;
    for (uint64_t i = 0; i < n; ++i) {
      std::string name = r.str();
      e.emplace_back(std::move(name), read_tensor(r));
    }
    return std::make_shared<TensorSetData>(std::move(e));
  });
}

}  // namespace lattice
