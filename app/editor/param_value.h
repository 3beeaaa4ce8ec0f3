#pragma once
/// Conversions between parameter values as QML sees them (QVariant) and as the graph stores them (JSON),
/// and the colours and summaries the editor shows. Seeds travel as strings in QML because a JavaScript
/// number cannot hold every 64-bit value.

#include <QColor>
#include <QString>
#include <QVariant>
#include <optional>

#include "core/node.h"

namespace lattice::editor {

/// The JSON value for `v` as parameter `p`, or nullopt when `v` cannot be one (wrong kind, not a whole
/// number for an Int, ...). Range and choice checks are check_param_value's job.
std::optional<Json> param_from_variant(const ParamDesc& p, const QVariant& v);
QVariant param_to_variant(const ParamDesc& p, const Json& v);

/// One-line text of a value for node summaries: numbers trimmed, strings shortened.
QString short_value_text(const Json& v);

/// Colour of wires and ports of a type; fixed per type so that users learn them.
QColor port_color(PortType t);

QString qstr(const std::string& s);
std::string sstr(const QString& s);

}  // namespace lattice::editor
