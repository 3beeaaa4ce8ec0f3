#include "app/editor/catalog_model.h"

#include <algorithm>
#include <map>

#include "app/editor/param_value.h"

namespace lattice::editor {

int fuzzy_score(const QString& pattern, const QString& text) {
  if (pattern.isEmpty()) return 0;
  int score = 0, run = 0, t = 0;
  for (const QChar pc : pattern) {
    const QChar want = pc.toLower();
    if (want.isSpace()) continue;
    bool found = false;
    for (; t < text.size(); ++t) {
      if (text[t].toLower() != want) {
        run = 0;
        continue;
      }
      const bool word_start = t == 0 || !text[t - 1].isLetterOrNumber();
      score += 1 + (word_start ? 8 : 0) + run * 4 + (t == 0 ? 6 : 0);
      ++run;
      ++t;
      found = true;
      break;
    }
    if (!found) return -1;
  }
  return score;
}

CatalogModel::CatalogModel(QObject* parent, const NodeRegistry& reg) : KeyedListModel(parent) {
  const Json cat = reg.catalogue();
  for (const auto& n : cat["nodes"]) {
    CatalogRow r;
    r.key = qstr(n["type"].get<std::string>());
    r.category = qstr(n.value("category", std::string()));
    if (r.category.isEmpty()) r.category = QStringLiteral("Other");
    r.description = qstr(n.value("description", std::string()));
    auto names = [](const Json& ports) {
      QStringList l;
      for (const auto& p : ports) l << qstr(p["type"].get<std::string>());
      return l.join(QStringLiteral(", "));
    };
    r.ports = names(n["inputs"]) + QStringLiteral(" \u2192 ") + names(n["outputs"]);
    all_.push_back(std::move(r));
  }
  refilter();
}

QVariant CatalogModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  const CatalogRow& r = rows_[static_cast<size_t>(index.row())];
  switch (role) {
    case TypeRole: return r.key;
    case CategoryRole: return r.category;
    case DescriptionRole: return r.description;
    case PortsRole: return r.ports;
    default: return {};
  }
}

QHash<int, QByteArray> CatalogModel::roleNames() const {
  return {{TypeRole, "type"}, {CategoryRole, "category"}, {DescriptionRole, "description"}, {PortsRole, "ports"}};
}

void CatalogModel::setFilter(const QString& f) {
  if (f == filter_) return;
  filter_ = f;
  refilter();
  emit filterChanged();
}

QString CatalogModel::typeAt(int row) const {
  return row >= 0 && row < rowCount() ? rows_[static_cast<size_t>(row)].key : QString();
}

void CatalogModel::refilter() {
  const int before = rowCount();
  std::vector<CatalogRow> next;
  std::map<QString, int> best;  // category -> best score in it
  for (CatalogRow r : all_) {
    // The type name counts most; the category and description let "blur" find "image.gaussian".
    const int s = std::max({fuzzy_score(filter_, r.key) * 2, fuzzy_score(filter_, r.category + QLatin1Char(' ') + r.key),
                            fuzzy_score(filter_, r.description)});
    if (s < 0) continue;
    r.score = s;
    best[r.category] = std::max(best[r.category], s);
    next.push_back(std::move(r));
  }
  std::stable_sort(next.begin(), next.end(), [&](const CatalogRow& a, const CatalogRow& b) {
    if (a.category != b.category) {
      const int sa = best[a.category], sb = best[b.category];
      return sa != sb ? sa > sb : a.category < b.category;
    }
    return a.score != b.score ? a.score > b.score : a.key < b.key;
  });
  // Order matters here (sections), so rebuild rather than sync.
  beginResetModel();
  rows_ = std::move(next);
  endResetModel();
  if (rowCount() != before) emit countChanged();
}

}  // namespace lattice::editor
