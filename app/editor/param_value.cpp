#include "app/editor/param_value.h"

#include <QUrl>
#include <QVariantList>
#include <cmath>

namespace lattice::editor {

QString qstr(const std::string& s) { return QString::fromStdString(s); }
std::string sstr(const QString& s) { return s.toStdString(); }

std::optional<Json> param_from_variant(const ParamDesc& p, const QVariant& v) {
  if (!v.isValid()) return std::nullopt;
  bool ok = false;
  switch (p.type) {
    case ParamType::Float: {
      const double d = v.toDouble(&ok);
      if (!ok || !std::isfinite(d)) return std::nullopt;
      return Json(d);
    }
    case ParamType::Int: {
      const double d = v.toDouble(&ok);
      if (!ok || !std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9.0e15) return std::nullopt;
      return Json(static_cast<int64_t>(d));
    }
    case ParamType::Bool:
      if (v.typeId() != QMetaType::Bool) return std::nullopt;
      return Json(v.toBool());
    case ParamType::String:
    case ParamType::Choice:
    case ParamType::InPath:
    case ParamType::OutPath: {
      if (!v.canConvert<QString>()) return std::nullopt;
      QString s = v.toString();
      if (p.type == ParamType::InPath || p.type == ParamType::OutPath) {
        if (s.startsWith(QStringLiteral("file://"))) s = QUrl(s).toLocalFile();
      }
      return Json(sstr(s));
    }
    case ParamType::Seed: {
      const qulonglong u = v.toString().trimmed().toULongLong(&ok);
      if (!ok) return std::nullopt;
      return Json(static_cast<uint64_t>(u));
    }
    case ParamType::Color: {
      Json a = Json::array();
      if (v.canConvert<QColor>() && v.typeId() != QMetaType::QVariantList) {
        const QColor c = v.value<QColor>();
        if (!c.isValid()) return std::nullopt;
        return Json::array({c.redF(), c.greenF(), c.blueF(), c.alphaF()});
      }
      const QVariantList l = v.toList();
      if (l.size() != 4) return std::nullopt;
      for (const auto& e : l) {
        const double d = e.toDouble(&ok);
        if (!ok) return std::nullopt;
        a.push_back(d);
      }
      return a;
    }
  }
  return std::nullopt;
}

QVariant param_to_variant(const ParamDesc& p, const Json& v) {
  switch (p.type) {
    case ParamType::Float: return v.is_number() ? QVariant(v.get<double>()) : QVariant();
    case ParamType::Int: return v.is_number() ? QVariant(static_cast<double>(v.get<int64_t>())) : QVariant();
    case ParamType::Bool: return v.is_boolean() ? QVariant(v.get<bool>()) : QVariant();
    case ParamType::Seed:
      return v.is_number_unsigned() ? QVariant(QString::number(v.get<uint64_t>()))
             : v.is_number()        ? QVariant(QString::number(v.get<int64_t>()))
                                    : QVariant();
    case ParamType::Color: {
      QVariantList l;
      if (v.is_array())
        for (const auto& e : v) l.push_back(e.is_number() ? e.get<double>() : 0.0);
      return l;
    }
    default: return v.is_string() ? QVariant(qstr(v.get<std::string>())) : QVariant();
  }
}

QString short_value_text(const Json& v) {
  if (v.is_number_float()) return QString::number(v.get<double>(), 'g', 4);
  if (v.is_number()) return qstr(v.dump());
  if (v.is_boolean()) return v.get<bool>() ? QStringLiteral("on") : QStringLiteral("off");
  if (v.is_string()) {
    QString s = qstr(v.get<std::string>());
    if (s.size() > 22) s = s.left(21) + QChar(0x2026);
    return s;
  }
  if (v.is_array()) {
    QStringList parts;
    for (const auto& e : v) parts << short_value_text(e);
    return QLatin1Char('[') + parts.join(QLatin1Char(' ')) + QLatin1Char(']');
  }
  return qstr(v.dump());
}

QColor port_color(PortType t) {
  static const QColor palette[] = {
      QColor("#9e9e9e"), QColor("#8bc34a"), QColor("#ffca28"), QColor("#ab47bc"), QColor("#26a69a"),
      QColor("#00897b"), QColor("#ff7043"), QColor("#42a5f5"), QColor("#ec407a"), QColor("#ef5350"),
      QColor("#7e57c2"), QColor("#5c6bc0"), QColor("#8d6e63"), QColor("#29b6f6"), QColor("#d4e157"),
  };
  const auto i = static_cast<size_t>(t);
  return i < std::size(palette) ? palette[i] : QColor("#bdbdbd");
}

}  // namespace lattice::editor
