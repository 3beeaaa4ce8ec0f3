import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Lattice.Model

// The node palette: fuzzy search over the registry's catalogue (filtering and ranking are C++'s, in
// CatalogModel), grouped by category. Enter or a click adds the node where the palette was opened.
Popup {
    id: palette
    required property GraphDocument document
    property point at: Qt.point(0, 0)

    function openAt(cx, cy) {
        at = Qt.point(cx, cy)
        search.text = ""
        document.catalog.filter = ""
        list.currentIndex = 0
        open()
        search.forceActiveFocus()
    }
    function add(row) {
        const type = document.catalog.typeAt(row)
        if (type !== "") document.addNode(type, at.x, at.y)
        close()
    }

    x: parent ? (parent.width - width) / 2 : 0
    y: 40
    width: 380
    height: Math.min(480, parent ? parent.height - 80 : 480)
    modal: false
    focus: true
    padding: 6
    background: Rectangle { color: Theme.panel; border.color: "#111111"; radius: 6 }

    ColumnLayout {
        anchors.fill: parent
        TextField {
            id: search
            Layout.fillWidth: true
            placeholderText: qsTr("Search nodes\u2026")
            onTextChanged: { palette.document.catalog.filter = text; list.currentIndex = 0 }
            Keys.onDownPressed: list.incrementCurrentIndex()
            Keys.onUpPressed: list.decrementCurrentIndex()
            Keys.onReturnPressed: palette.add(list.currentIndex)
            Keys.onEnterPressed: palette.add(list.currentIndex)
            Keys.onEscapePressed: palette.close()
        }
        ListView {
            id: list
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            model: palette.document.catalog
            highlightMoveDuration: 0
            section.property: "category"
            section.delegate: Label {
                required property string section
                text: section
                color: Theme.textDim
                font.bold: true
                padding: 4
            }
            highlight: Rectangle { color: "#3d5a80"; radius: 3 }
            delegate: ItemDelegate {
                required property int index
                required property string type
                required property string description
                required property string ports
                width: ListView.view.width
                contentItem: Column {
                    Label { text: type; color: Theme.text }
                    Label { text: description + "   " + ports; color: Theme.textDim; font.pixelSize: 10; elide: Text.ElideRight; width: parent.width }
                }
                onClicked: palette.add(index)
            }
        }
        Label {
            visible: palette.document.catalog.count === 0
            text: qsTr("No node type matches")
            color: Theme.textDim
        }
    }
}
