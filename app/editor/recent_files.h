#pragma once
/// RecentFiles: the projects opened or saved last, newest first, at most kMax, kept in QSettings under
/// "recentFiles" (the application's settings by default; an INI file for tests). Files that no longer
/// exist are pruned whenever the list is loaded or refreshed. Paths are stored absolute.
///
/// Threading: UI thread only.

#include <QObject>
#include <QStringList>
#include <QtQml/qqmlregistration.h>

namespace lattice::editor {

class RecentFiles : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("RecentFiles belongs to a GraphDocument")
  Q_PROPERTY(QStringList files READ files NOTIFY filesChanged)

 public:
  static constexpr int kMax = 10;
  explicit RecentFiles(QObject* parent = nullptr);

  /// Uses an INI file instead of the application's settings (and reloads from it).
  void setSettingsFile(const QString& ini);
  QStringList files() const { return files_; }
  /// Moves `path` (a path or file:// URL) to the front.
  Q_INVOKABLE void add(const QString& pathOrUrl);
  Q_INVOKABLE void remove(const QString& path);
  Q_INVOKABLE void clear();
  /// Reloads from the settings and prunes missing files (the File menu calls this when it opens).
  Q_INVOKABLE void refresh();

 signals:
  void filesChanged();

 private:
  void store(QStringList files);
  QString ini_;
  QStringList files_;
};

}  // namespace lattice::editor
