import QtQuick
import QtQuick.Controls
import Lattice.Model

// One node on the canvas. Its geometry (size, port rows) comes from the model (C++ NodeLayout);
// dragging moves the selection through GraphDocument.moveNodes, merged into one undo step. What it shows
// is painted by one C++ NodeFace (one image, repainted only when it changes); the items here only take
// input, plus the footer while the node is evaluated (docs/performance.md, editor canvas).
Item {
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

    NodeFace {
        anchors.fill: parent
        nodeId: node.nodeId
        typeName: node.typeName
        inputs: node.inputs
        outputs: node.outputs
        summary: node.summary
        known: node.known
        selected: node.selected
        stateColor: Theme.stateColor(node.evalState)
        // An idle node says nothing here (its state dot says "idle").
        status: node.evalState !== "idle" || node.message !== ""
                ? node.evalState + (node.message !== "" ? ": " + node.message : "") : ""
        statusColor: node.evalState === "failed" || node.evalState === "invalid" ? Theme.error : Theme.textDim
        highlightType: node.board.wireActive && node.board.wireNode !== node.nodeId ? node.board.wireType : ""
        highlightInputs: node.board.wireFromOutput
        // Image pixels per canvas unit, changed by the canvas only once a zoom gesture settles.
        detail: node.board.faceDetail
        bodyColor: Theme.nodeBody
        headerColor: Theme.nodeHeader
        textColor: Theme.text
        dimColor: Theme.textDim
        selectionColor: Theme.selection
        errorColor: Theme.error
    }

    // Body: select and drag (NodeCanvas.qml pressNode, dragNodes: shared with the canvas zoomed far out).
    MouseArea {
        anchors.fill: parent
        acceptedButtons: Qt.LeftButton
        onPressed: function(mouse) {
            node.board.pressNode(node.nodeId, (mouse.modifiers & Qt.ShiftModifier) !== 0, mapToItem(node.parent, mouse.x, mouse.y))
        }
        onPositionChanged: function(mouse) { node.board.dragNodes(mapToItem(node.parent, mouse.x, mouse.y)) }
        onReleased: node.board.endNodeDrag()
        // Hidden mid-drag (zoomed past the canvas's farZoom): the drag ends there.
        onCanceled: node.board.endNodeDrag()
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

    // Footer: the progress bar while running (NodeFace draws the status line), the message as a tooltip.
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
        ToolTip.visible: footerHover.containsMouse && node.message !== ""
        ToolTip.text: node.message
        MouseArea { id: footerHover; anchors.fill: parent; hoverEnabled: true; acceptedButtons: Qt.NoButton }
    }

    // A port's hit area (over its dot, which NodeFace draws): drag a wire, click to disconnect.
    component Port: Item {
        id: port
        property var portData: ({})
        property int row: 0
        property bool output: false
        width: 10
        height: 10
        x: (port.output ? node.width : 0) - width / 2
        y: node.doc.headerHeight + row * node.doc.portRow + (node.doc.portRow - height) / 2
        ToolTip.visible: dotArea.containsMouse
        ToolTip.text: port.portData.name + ": " + port.portData.type
        // Drag a wire, click to disconnect (NodeCanvas.qml pressPort, dragWire, releaseWire).
        MouseArea {
            id: dotArea
            anchors.fill: parent
            anchors.margins: -4
            hoverEnabled: true
            preventStealing: true
            onPressed: node.board.pressPort(node.nodeId, port.portData.name, port.output, port.portData.type,
                                            port.portData.connected === true,
                                            port.mapToItem(node.parent, port.width / 2, port.height / 2))
            onPositionChanged: function(mouse) { node.board.dragWire(mapToItem(node.parent, mouse.x, mouse.y)) }
            onReleased: function(mouse) { node.board.releaseWire(mapToItem(node.parent, mouse.x, mouse.y)) }
            // The grab can end without a release (the delegate hidden past farZoom mid-drag): drop the wire.
            onCanceled: node.board.cancelWire()
        }
    }
}
