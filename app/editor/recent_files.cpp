#include "app/editor/recent_files.h"

#include <QFileInfo>
#include <QSettings>
#include <QUrl>
#include <memory>

namespace lattice::editor {

namespace {

const QString kKey = QStringLiteral("recentFiles");

std::unique_ptr<QSettings> open_settings(const QString& ini) {
  if (ini.isEmpty()) return std::make_unique<QSettings>();
  return std::make_unique<QSettings>(ini, QSettings::IniFormat);
}

}  // namespace

RecentFiles::RecentFiles(QObject* parent) : QObject(parent) { refresh(); }

void RecentFiles::setSettingsFile(const QString& ini) {
  ini_ = ini;
  refresh();
}

void RecentFiles::refresh() {
  const QStringList stored = open_settings(ini_)->value(kKey).toStringList();
  QStringList kept;
  for (const auto& f : stored)
    if (!f.isEmpty() && QFileInfo(f).isFile() && !kept.contains(f) && kept.size() < kMax) kept << f;
  if (kept != stored) open_settings(ini_)->setValue(kKey, kept);
  if (kept == files_) return;
  files_ = kept;
  emit filesChanged();
}

void RecentFiles::store(QStringList files) {
  while (files.size() > kMax) files.removeLast();
  open_settings(ini_)->setValue(kKey, files);
  if (files == files_) return;
  files_ = files;
  emit filesChanged();
}

void RecentFiles::add(const QString& pathOrUrl) {
  const QString local = pathOrUrl.startsWith(QStringLiteral("file:")) ? QUrl(pathOrUrl).toLocalFile() : pathOrUrl;
  if (local.isEmpty()) return;
  const QString path = QFileInfo(local).absoluteFilePath();
  QStringList f = files_;
  f.removeAll(path);
  f.prepend(path);
  store(f);
}

void RecentFiles::remove(const QString& path) {
  QStringList f = files_;
  if (f.removeAll(path)) store(f);
}

void RecentFiles::clear() { store({}); }

}  // namespace lattice::editor
