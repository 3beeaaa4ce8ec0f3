import QtQuick
import QtQuick.Controls
import Lattice.Model

// One node on the canvas. Its geometry (size, port rows) comes from the model (C++ NodeLayout);
// dragging moves the selection through GraphDocument.moveNodes, merged into one undo step.
Rectangle {
    id: node
    required property Item board
    required property GraphDocument doc
    property string nodeId
    property string typeName
    property var inputs: []
    property var outputs: []
    property string summary
    property bool known: true
    property bool selected: false
    property string evalState: "idle"
    property real progress: 0
    property string message

    radius: 6
    color: Theme.nodeBody
    border.width: selected ? 2 : 1
    border.color: selected ? Theme.selection : (known ? "#1a1a1a" : Theme.error)

    // Body: select and drag.
    MouseArea {
        anchors.fill: parent
        acceptedButtons: Qt.LeftButton
        property point pressAt
        property point applied
        onPressed: function(mouse) {
            node.board.forceActiveFocus()
            const shift = (mouse.modifiers & Qt.ShiftModifier) !== 0
            // Shift toggles; a plain press on a selected node keeps the group so that it can be dragged.
            if (shift || !node.selected) node.doc.select(node.nodeId, shift)
            pressAt = mapToItem(node.parent, mouse.x, mouse.y)
            applied = Qt.point(0, 0)
        }
        onPositionChanged: function(mouse) {
            const p = mapToItem(node.parent, mouse.x, mouse.y)
            const dx = Math.round(p.x - pressAt.x) - applied.x
            const dy = Math.round(p.y - pressAt.y) - applied.y
            if (dx === 0 && dy === 0) return
            if (node.doc.moveNodes(node.doc.selection, dx, dy, true))
                applied = Qt.point(applied.x + dx, applied.y + dy)
        }
        onReleased: node.doc.endInteraction()
    }

    Rectangle {
        id: header
        width: parent.width
        height: node.doc.headerHeight
        radius: node.radius
        color: Theme.nodeHeader
        Rectangle { anchors.bottom: parent.bottom; width: parent.width; height: node.radius; color: parent.color }
        Text {
            anchors.left: parent.left; anchors.leftMargin: 8
            anchors.right: stateDot.left; anchors.rightMargin: 4
            anchors.verticalCenter: parent.verticalCenter
            color: Theme.text
            font.bold: true
            elide: Text.ElideRight
            text: node.nodeId + "  <font color='" + Theme.textDim + "'>" + node.typeName + "</font>"
            textFormat: Text.StyledText
        }
        Rectangle {
            id: stateDot
            anchors.right: parent.right; anchors.rightMargin: 8
            anchors.verticalCenter: parent.verticalCenter
            width: 10; height: 10; radius: 5
            color: Theme.stateColor(node.evalState)
        }
    }

    // Port rows: inputs on the left edge, outputs on the right, one row each.
    Repeater {
        model: node.inputs
        delegate: Port {
            required property var modelData
            required property int index
            portData: modelData
            row: index
            output: false
        }
    }
    Repeater {
        model: node.outputs
        delegate: Port {
            required property var modelData
            required property int index
            portData: modelData
            row: index
            output: true
        }
    }

    Text {
        x: 8
        y: node.doc.headerHeight + Math.max(node.inputs.length, node.outputs.length) * node.doc.portRow + 2
        width: node.width - 16
        color: Theme.textDim
        font.pixelSize: 11
        lineHeightMode: Text.FixedHeight
        lineHeight: 15
        elide: Text.ElideRight
        text: node.summary
    }

    // Footer: state, progress, error.
    Item {
        anchors.bottom: parent.bottom
        width: parent.width
        height: 22
        Rectangle {
            x: 6; y: 2
            height: 3; radius: 1.5
            visible: node.evalState === "running"
            width: (parent.width - 12) * node.progress
            color: Theme.stateColor("running")
        }
        // An idle node says nothing here (its state dot says "idle"): one text less to draw per node.
        Text {
            visible: node.evalState !== "idle" || node.message !== ""
            anchors.fill: parent
            anchors.leftMargin: 8; anchors.rightMargin: 8
            verticalAlignment: Text.AlignVCenter
            font.pixelSize: 10
            elide: Text.ElideRight
            color: node.evalState === "failed" || node.evalState === "invalid" ? Theme.error : Theme.textDim
            text: node.evalState + (node.message !== "" ? ": " + node.message : "")
        }
        ToolTip.visible: footerHover.containsMouse && node.message !== ""
        ToolTip.text: node.message
        MouseArea { id: footerHover; anchors.fill: parent; hoverEnabled: true; acceptedButtons: Qt.NoButton }
    }

    component Port: Item {
        id: port
        property var portData: ({})
        property int row: 0
        property bool output: false
        readonly property bool compatible: node.board.wireActive && node.board.wireType === portData.type
                                           && node.board.wireFromOutput !== output && node.board.wireNode !== node.nodeId
        x: 0
        y: node.doc.headerHeight + row * node.doc.portRow
        width: node.width
        height: node.doc.portRow

        Text {
            anchors.verticalCenter: parent.verticalCenter
            anchors.left: port.output ? undefined : parent.left
            anchors.right: port.output ? parent.right : undefined
            anchors.leftMargin: 10
            anchors.rightMargin: 10
            font.pixelSize: 11
            color: Theme.text
            text: port.portData.name + (port.portData.optional ? "?" : "")
        }
        Rectangle {
            id: dot
            width: port.compatible ? 14 : 10
            height: width
            radius: width / 2
            x: (port.output ? node.width : 0) - width / 2
            anchors.verticalCenter: parent.verticalCenter
            color: port.portData.color
            border.width: port.compatible ? 2 : 1
            border.color: port.compatible ? Theme.text : "#111111"
            ToolTip.visible: dotArea.containsMouse
            ToolTip.text: port.portData.name + ": " + port.portData.type
            MouseArea {
                id: dotArea
                anchors.fill: parent
                anchors.margins: -4
                hoverEnabled: true
                preventStealing: true
                property bool dragged: false
                function centre() { return dot.mapToItem(node.parent, dot.width / 2, dot.height / 2) }
                onPressed: {
                    dragged = false
                    node.board.beginWire(node.nodeId, port.portData.name, port.output, port.portData.type, centre())
                }
                onPositionChanged: function(mouse) {
                    dragged = true
                    node.board.wireEnd = mapToItem(node.parent, mouse.x, mouse.y)
                }
                onReleased: function(mouse) {
                    if (dragged) { node.board.endWire(mapToItem(node.parent, mouse.x, mouse.y)); return }
                    node.board.wireActive = false
                    // A click on a connected input disconnects it.
                    if (!port.output && port.portData.connected) node.doc.disconnectPort(node.nodeId, port.portData.name)
                }
            }
        }
    }
}
