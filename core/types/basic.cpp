#include "core/types/basic.h"

#include <cstdio>

#include "core/bytes.h"

namespace lattice {

std::string NumberData::describe() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "number %.9g", value);
  return buf;
}

bool NumberData::serialize(std::string& out) const {
  ByteWriter(out).pod(value);
  return true;
}

std::string StringData::describe() const {
  return "string \"" + (value.size() > 40 ? value.substr(0, 37) + "..." : value) + "\"";
}

bool StringData::serialize(std::string& out) const {
  ByteWriter(out).str(value);
  return true;
}

Value make_number(double v) { return std::make_shared<NumberData>(v); }
Value make_string(std::string v) { return std::make_shared<StringData>(std::move(v)); }

}  // namespace lattice
