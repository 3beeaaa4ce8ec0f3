#pragma once
/// Number and String values: the scalar wires of a graph.

#include <string>

#include "core/value.h"

namespace lattice {

class NumberData final : public Data {
 public:
  explicit NumberData(double v) : value(v) {}
  PortType type() const override { return PortType::Number; }
  size_t bytes() const override { return sizeof(*this); }
  std::string describe() const override;
  bool serialize(std::string& out) const override;
  const double value;
};

class StringData final : public Data {
 public:
  explicit StringData(std::string v) : value(std::move(v)) {}
  PortType type() const override { return PortType::String; }
  size_t bytes() const override { return sizeof(*this) + value.size(); }
  std::string describe() const override;
  bool serialize(std::string& out) const override;
  const std::string value;
};

Value make_number(double v);
Value make_string(std::string v);

}  // namespace lattice
