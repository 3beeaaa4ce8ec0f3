import QtQuick
import QtQuick.Controls
import Lattice.Model

// The viewer: the current node's Image output (drawn by the C++ ImageViewer), wheel zoom around the
// cursor, drag to pan, double-click to fit; other outputs are described in text.
Rectangle {
    id: viewer
    required property GraphDocument document
    color: "#1b1b1b"

    ImageViewer {
        id: view
        anchors.fill: parent
        image: viewer.document.evaluator.viewImage
    }
    MouseArea {
        anchors.fill: parent
        acceptedButtons: Qt.LeftButton | Qt.MiddleButton
        property point last
        onPressed: function(mouse) { last = Qt.point(mouse.x, mouse.y) }
        onPositionChanged: function(mouse) {
            view.panX += mouse.x - last.x
            view.panY += mouse.y - last.y
            last = Qt.point(mouse.x, mouse.y)
        }
        onDoubleClicked: view.fit()
        onWheel: function(wheel) { view.zoomAt(wheel.angleDelta.y > 0 ? 1.2 : 1 / 1.2, wheel.x, wheel.y) }
    }
    Label {
        anchors.centerIn: parent
        visible: !view.hasImage
        horizontalAlignment: Text.AlignHCenter
        color: Theme.textDim
        text: viewer.document.currentNode === "" ? qsTr("Select a node to view its output")
              : (viewer.document.evaluator.viewInfo !== "" ? viewer.document.evaluator.viewInfo : qsTr("No output yet"))
    }
    Row {
        anchors.left: parent.left
        anchors.bottom: parent.bottom
        anchors.margins: 6
        spacing: 8
        visible: view.hasImage
        Label { color: Theme.textDim; text: view.sizeText + "   " + Math.round(view.zoom * 100) + "%" }
        Button { text: qsTr("Fit"); onClicked: view.fit(); implicitHeight: 24 }
        Button { text: "1:1"; onClicked: { view.zoom = 1; view.panX = 0; view.panY = 0 } implicitHeight: 24 }
    }
}
