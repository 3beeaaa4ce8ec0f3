import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Lattice.Model

// The inspector: the current node's parameters, one editor per parameter type (ParamEditor).
Rectangle {
    id: inspector
    required property GraphDocument document
    color: Theme.panel

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 8
        spacing: 6
        Label {
            Layout.fillWidth: true
            color: Theme.text
            font.bold: true
            elide: Text.ElideRight
            text: inspector.document.currentNode === "" ? qsTr("No node selected")
                  : inspector.document.currentNode + "  (" + inspector.document.currentType + ")"
        }
        Label {
            Layout.fillWidth: true
            visible: text !== ""
            color: Theme.textDim
            wrapMode: Text.WordWrap
            text: inspector.document.currentDescription
        }
        ListView {
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            spacing: 4
            model: inspector.document.params
            delegate: ParamEditor {
                required property var model
                width: ListView.view.width
                document: inspector.document
                nodeId: inspector.document.currentNode
                name: model.name
                type: model.type
                value: model.value
                isExplicit: model.isExplicit
                description: model.description
                hasMin: model.hasMin
                hasMax: model.hasMax
                min: model.min
                max: model.max
                choices: model.choices
            }
        }
    }
}
