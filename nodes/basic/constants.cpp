// value.number, value.string, value.frame: constants and the current frame number.
#include "core/eval_context.h"
#include "core/types/basic.h"

namespace lattice {
namespace {

NodeDesc number_node() {
  NodeDesc d;
  d.type = "value.number";
  d.category = "Value";
  d.description = "A constant number";
  d.outputs = {{"value", PortType::Number, "the number"}};
  d.params = {{"value", ParamType::Float, 0.0, "the number to output"}};
  d.evaluate = [](EvalContext& ctx) { ctx.set_output("value", make_number(ctx.number("value"))); };
  d.plan = [](PlanContext& ctx) { ctx.set_output("value", {"number", 0, 0, 8, Json{{"value", ctx.number("value")}}}); };
  return d;
}
LATTICE_REGISTER_NODE(number_node);

NodeDesc string_node() {
  NodeDesc d;
  d.type = "value.string";
  d.category = "Value";
  d.description = "A constant string (prompts, file names)";
  d.outputs = {{"value", PortType::String, "the string"}};
  d.params = {{"value", ParamType::String, "", "the text to output"}};
  d.evaluate = [](EvalContext& ctx) { ctx.set_output("value", make_string(ctx.string("value"))); };
  d.plan = [](PlanContext& ctx) { ctx.set_output("value", {"string", 0, 0, 0, {}}); };
  return d;
}
LATTICE_REGISTER_NODE(string_node);

NodeDesc frame_node() {
  NodeDesc d;
  d.type = "value.frame";
  d.category = "Value";
  d.description = "The frame being rendered (--frames), times a rate plus an offset";
  d.outputs = {{"value", PortType::Number, "frame * scale + offset"}};
  d.params = {{"scale", ParamType::Float, 1.0, "multiplier applied to the frame number"},
              {"offset", ParamType::Float, 0.0, "added after scaling"}};
  d.frame_dependent = true;
  d.evaluate = [](EvalContext& ctx) {
    ctx.set_output("value", make_number(static_cast<double>(ctx.frame()) * ctx.number("scale") + ctx.number("offset")));
  };
  return d;
}
LATTICE_REGISTER_NODE(frame_node);

NodeDesc math_node() {
  NodeDesc d;
  d.type = "value.math";
  d.category = "Value";
  d.description = "Arithmetic on two numbers";
  d.inputs = {{"a", PortType::Number, "first operand"}, {"b", PortType::Number, "second operand", true}};
  d.outputs = {{"value", PortType::Number, "the result"}};
  d.params = {{"op", ParamType::Choice, "add", "operation", -INFINITY, INFINITY, {"add", "sub", "mul", "div", "min", "max"}},
              {"b", ParamType::Float, 0.0, "second operand when input b is not connected"}};
  d.evaluate = [](EvalContext& ctx) {
    const double a = ctx.input_as<NumberData>("a").value;
    const double b = ctx.has_input("b") ? ctx.input_as<NumberData>("b").value : ctx.number("b");
    const std::string op = ctx.string("op");
    double r = op == "add" ? a + b : op == "sub" ? a - b : op == "mul" ? a * b : op == "div" ? a / b
             : op == "min" ? std::min(a, b) : std::max(a, b);
    ctx.set_output("value", make_number(r));
  };
  return d;
}
LATTICE_REGISTER_NODE(math_node);

}  // namespace
}  // namespace lattice
