import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs
import Lattice.Model

// The editor window: canvas on the left, viewer and inspector on the right, menus and a status line.
// Everything it shows and changes goes through the GraphDocument (C++).
ApplicationWindow {
    id: window
    property string initialFile: ""
    property GraphDocument document: GraphDocument {}
    property var afterDiscard: null  // what to do once unsaved changes were saved or discarded
    property bool closeConfirmed: false
    property string message: ""

    width: 1400
    height: 860
    visible: true
    color: Theme.background
    title: document.displayName + (document.dirty ? " \u2022" : "") + (document.readOnly ? qsTr(" [read-only]") : "")
           + " \u2014 Lattice"

    Component.onCompleted: {
        if (initialFile !== "" && !document.open(initialFile))
            message = document.lastError
        // Recovery files a crashed session left behind: offer them before anything else.
        if (document.autosave.recoverable.length > 0) Qt.callLater(recoveryDialog.open)
    }
    // Restores a recovery file the dialog offers (see app/editor/autosave.h).
    function restore(file) {
        if (document.restoreRecovery(file)) { recoveryDialog.close(); canvas.frameAll() }
    }
    function openFile(path) {
        if (window.document.open(path)) { window.message = ""; canvas.frameAll() }
    }

    // Runs `action` now, or after asking what to do with unsaved changes.
    function guard(action) {
        if (!document.dirty) { action(); return }
        afterDiscard = action
        discardDialog.open()
    }
    // An untitled project opens from the installed examples; otherwise the dialog stays where it was.
    function openProject() {
        if (document.filePath === "" && document.examplesFolder.toString() !== "")
            openDialog.currentFolder = document.examplesFolder
        openDialog.open()
    }
    function save(then) {
        if (document.filePath === "") { saveDialog.then = then || null; saveDialog.open(); return }
        if (!document.save()) { message = document.lastError; return }
        if (then) then()
    }
    onClosing: function(close) {
        if (document.dirty && !closeConfirmed) {
            close.accepted = false
            guard(function() { window.closeConfirmed = true; window.close() })
        }
    }
    Connections {
        target: window.document
        function onLastErrorChanged() { if (window.document.lastError !== "") window.message = window.document.lastError }
        // Another editor process has the project just opened (app/editor/document_lock.h).
        function onReadOnlyChanged() { if (window.document.readOnly) Qt.callLater(openElsewhereDialog.open) }
    }

    menuBar: MenuBar {
        Menu {
            objectName: "fileMenu"
            title: qsTr("&File")
            Action { text: qsTr("&New"); shortcut: StandardKey.New; onTriggered: window.guard(function() { window.document.newDocument() }) }
            Action { text: qsTr("&Open\u2026"); shortcut: StandardKey.Open; onTriggered: window.guard(function() { window.openProject() }) }
            Menu {
                id: recentMenu
                title: qsTr("Open &Recent")
                enabled: window.document.recent.files.length > 0
                onAboutToShow: window.document.recent.refresh()
                Instantiator {
                    model: window.document.recent.files
                    delegate: MenuItem {
                        required property string modelData
                        required property int index
                        objectName: "recentFile" + index
                        text: (index < 9 ? "&" + (index + 1) + "  " : "") + modelData
                        onTriggered: { const path = modelData; window.guard(function() { window.openFile(path) }) }
                    }
                    onObjectAdded: function(index, object) { recentMenu.insertItem(index, object) }
                    onObjectRemoved: function(index, object) { recentMenu.removeItem(object) }
                }
                MenuSeparator {}
                Action { text: qsTr("&Clear List"); onTriggered: window.document.recent.clear() }
            }
            Action { text: qsTr("&Save"); shortcut: StandardKey.Save; onTriggered: window.save() }
            Action { text: qsTr("Save &As\u2026"); shortcut: StandardKey.SaveAs; onTriggered: { saveDialog.then = null; saveDialog.open() } }
            MenuSeparator {}
            Action { text: qsTr("&Quit"); shortcut: StandardKey.Quit; onTriggered: window.close() }
        }
        Menu {
            title: qsTr("&Edit")
            Action {
                text: qsTr("&Undo %1").arg(window.document.undoText); enabled: window.document.canUndo
                shortcut: StandardKey.Undo; onTriggered: window.document.undo()
            }
            Action {
                text: qsTr("&Redo %1").arg(window.document.redoText); enabled: window.document.canRedo
                shortcut: StandardKey.Redo; onTriggered: window.document.redo()
            }
            MenuSeparator {}
            Action { text: qsTr("&Copy"); shortcut: StandardKey.Copy; onTriggered: window.document.copy(window.document.selection) }
            Action {
                text: qsTr("&Paste"); shortcut: StandardKey.Paste
                onTriggered: { const p = canvas.viewCentre(); window.document.paste(p.x, p.y) }
            }
            Action { text: qsTr("&Duplicate"); shortcut: "Ctrl+D"; onTriggered: window.document.duplicate(window.document.selection) }
            Action { text: qsTr("De&lete"); shortcut: StandardKey.Delete; onTriggered: window.document.removeSelected() }
            Action { text: qsTr("Select &All"); shortcut: StandardKey.SelectAll; onTriggered: window.document.selectAll() }
        }
        Menu {
            title: qsTr("&View")
            Action { text: qsTr("&Frame All"); shortcut: "Home"; onTriggered: canvas.frameAll() }
            Action { text: qsTr("Add &Node\u2026"); shortcut: "Shift+A"; onTriggered: canvas.openPalette() }
        }
        Menu {
            title: qsTr("&Run")
            Action { text: qsTr("&Auto-run"); checkable: true; checked: window.document.autoRun; onToggled: window.document.autoRun = checked }
            Action { text: qsTr("Run &Now"); shortcut: "Ctrl+Return"; onTriggered: window.document.run() }
            Action { text: qsTr("&Render All (writes files)"); shortcut: "Ctrl+R"; onTriggered: window.document.renderAll() }
            Action { text: qsTr("&Cancel"); shortcut: "Ctrl+."; onTriggered: window.document.evaluator.cancel() }
        }
    }

    SplitView {
        anchors.fill: parent
        orientation: Qt.Horizontal

        NodeCanvas {
            id: canvas
            objectName: "canvas"  // tests and bench/editor_canvas_bench find it by name
            document: window.document
            SplitView.fillWidth: true
            SplitView.minimumWidth: 300
        }
        SplitView {
            orientation: Qt.Vertical
            SplitView.preferredWidth: 400
            SplitView.minimumWidth: 260
            Viewer {
                document: window.document
                SplitView.preferredHeight: 360
                SplitView.minimumHeight: 120
            }
            Inspector {
                document: window.document
                SplitView.fillHeight: true
            }
        }
    }

    footer: Rectangle {
        height: 24
        color: Theme.panel
        RowLayout {
            anchors.fill: parent
            anchors.leftMargin: 8
            anchors.rightMargin: 8
            Label {
                Layout.fillWidth: true
                elide: Text.ElideRight
                color: window.message !== "" ? Theme.error : Theme.textDim
                text: window.message !== "" ? window.message : qsTr("%1 nodes").arg(window.document.nodeCount)
            }
            BusyIndicator { running: window.document.evaluator.busy; implicitHeight: 20; implicitWidth: 20 }
            Label { color: Theme.textDim; text: window.document.evaluator.status; elide: Text.ElideRight; Layout.maximumWidth: 400 }
        }
    }

    FileDialog {
        id: openDialog
        title: qsTr("Open project")
        nameFilters: [qsTr("Lattice projects (*.lattice)"), qsTr("All files (*)")]
        onAccepted: window.openFile(selectedFile.toString())
    }
    FileDialog {
        id: saveDialog
        property var then: null
        title: qsTr("Save project as")
        fileMode: FileDialog.SaveFile
        defaultSuffix: "lattice"
        nameFilters: [qsTr("Lattice projects (*.lattice)")]
        onAccepted: {
            if (!window.document.saveAs(selectedFile.toString())) return
            window.message = ""
            if (then) then()
        }
    }
    MessageDialog {
        id: discardDialog
        text: qsTr("%1 has unsaved changes.").arg(window.document.displayName)
        informativeText: qsTr("Save them before continuing?")
        buttons: MessageDialog.Save | MessageDialog.Discard | MessageDialog.Cancel
        onButtonClicked: function(button, role) {
            const action = window.afterDiscard
            window.afterDiscard = null
            if (button === MessageDialog.Save) window.save(action)
            else if (button === MessageDialog.Discard && action) action()
        }
    }
    Dialog {
        id: openElsewhereDialog
        objectName: "openElsewhereDialog"
        title: qsTr("Project open in another editor")
        anchors.centerIn: parent
        width: Math.min(window.width - 80, 560)
        modal: true
        Label {
            width: parent.width
            wrapMode: Text.WordWrap
            text: qsTr("%1 is open in another Lattice editor (%2). Editing it in both loses the changes of the one that saves first.")
                  .arg(window.document.displayName).arg(window.document.openElsewhere)
        }
        footer: DialogButtonBox {
            Button { objectName: "openReadOnly"; text: qsTr("Open Read-Only"); DialogButtonBox.buttonRole: DialogButtonBox.RejectRole }
            Button { objectName: "editAnyway"; text: qsTr("Edit Anyway"); DialogButtonBox.buttonRole: DialogButtonBox.AcceptRole }
        }
        onAccepted: window.document.editAnyway()
    }
    // Offers what the autosaver kept from sessions that did not end cleanly (see app/editor/autosave.h).
    Dialog {
        id: recoveryDialog
        objectName: "recoveryDialog"
        title: qsTr("Recover unsaved work")
        anchors.centerIn: parent
        width: Math.min(window.width - 80, 640)
        modal: true
        standardButtons: Dialog.Close
        ColumnLayout {
            anchors.fill: parent
            spacing: 8
            Label {
                Layout.fillWidth: true
                wrapMode: Text.WordWrap
                text: qsTr("Lattice did not close cleanly. These projects have changes that were autosaved but not saved:")
            }
            // A ListView, not a Repeater inside the layout: rows removed from a layout by a Repeater crash
            // Qt 6.4 when the window is destroyed while the dialog is open (main_window_test).
            ListView {
                Layout.fillWidth: true
                Layout.preferredHeight: Math.min(contentHeight, 320)
                clip: true
                spacing: 4
                model: window.document.autosave.recoverable
                delegate: RowLayout {
                    required property var modelData
                    width: ListView.view.width
                    Label {
                        Layout.fillWidth: true
                        elide: Text.ElideMiddle
                        text: modelData.name + " \u2014 " + modelData.nodes + qsTr(" nodes, ") + modelData.modified.toLocaleString()
                    }
                    Button {
                        objectName: "restoreRecovery"
                        text: qsTr("Restore")
                        // Restoring changes the list and so destroys this row: the action must not look
                        // names up through it (the root's function does).
                        onClicked: { const file = modelData.recoveryFile; const w = window; w.guard(function() { w.restore(file) }) }
                    }
                    Button { objectName: "discardRecovery"; text: qsTr("Discard"); onClicked: window.document.autosave.discardRecovery(modelData.recoveryFile) }
                }
            }
        }
    }
}
