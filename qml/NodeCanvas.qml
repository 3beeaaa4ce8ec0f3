import QtQuick
import QtQuick.Controls
import QtQuick.Shapes
import Lattice.Model

// The node canvas: grid, wires, nodes. Pan with the middle button or Space+drag, zoom around the cursor
// with the wheel, box-select with the left button, Tab or double-click for the node palette.
Item {
    id: canvas
    required property GraphDocument document
    property real zoom: 1
    property bool spaceHeld: false
    // Wire being dragged from a port: its fixed end, the loose end, and what it may connect to.
    property bool wireActive: false
    property string wireNode: ""
    property string wirePort: ""
    property bool wireFromOutput: true
    property string wireType: ""
    property point wireStart: Qt.point(0, 0)
    property point wireEnd: Qt.point(0, 0)

    property bool framed: false  // the first frameAll waits until the canvas has its size
    // Pixels per canvas unit of the node faces' images (app/editor/node_face.h): 1 up to zoom 1, 2 up to
    // zoom 2, then 4, sharp when zoomed in. Chosen only once the zoom has not changed for settleMs, so that
    // a zoom gesture scales the faces and repaints none; then the faces in view repaint, a few per frame.
    property real faceDetail: 1
    property int settleMs: 200
    function detailFor(z) { return z <= 1 ? 1 : (z <= 2 ? 2 : 4) }
    onZoomChanged: zoomSettle.restart()
    // Level of detail: below farZoom every node is a few flat rectangles of one FarNodeLayer
    // (app/editor/far_node_layer.h) and the node delegates are hidden (the model puts none in view), so a
    // zoomed-out frame costs no item per node; the background mouse area then hit-tests nodes and ports
    // in C++ (GraphDocument::nodeAt, portAt) to select, drag, wire and show a node's message.
    property real farZoom: 0.4
    readonly property bool far: zoom < farZoom
    Timer {
        id: zoomSettle
        interval: canvas.settleMs
        onTriggered: canvas.faceDetail = canvas.detailFor(canvas.zoom)
    }
    // The visible part of the canvas in canvas units, with a margin: nodes outside it are not drawn (a
    // 500-node graph otherwise costs every frame; see docs/performance.md, editor canvas). The model
    // decides (C++, KeyedListModel::setView) and notifies only the rows that enter or leave the view, so a
    // pan or zoom step does not re-evaluate a binding per node. Wires are one geometry (WireLayer) that
    // the renderer clips, so they need no culling.
    property bool culling: true  // off only to measure what it saves (bench/editor_canvas_bench.cpp)
    readonly property real cullMargin: 40
    readonly property rect viewRect: culling ? Qt.rect(-content.x / zoom - cullMargin, -content.y / zoom - cullMargin,
                                                       width / zoom + 2 * cullMargin, height / zoom + 2 * cullMargin)
                                             : Qt.rect(0, 0, 0, 0)
    onViewRectChanged: document.nodes.setViewRect(viewRect, !far)
    onFarChanged: document.nodes.setViewRect(viewRect, !far)

    clip: true
    focus: true
    onWidthChanged: if (!framed) Qt.callLater(frameOnce)
    onHeightChanged: if (!framed) Qt.callLater(frameOnce)
    function frameOnce() {
        if (framed || width <= 0 || height <= 0) return
        framed = true
        frameAll()
    }
    activeFocusOnTab: false

    function clamp(v, lo, hi) { return Math.max(lo, Math.min(hi, v)) }
    function toCanvas(vx, vy) { return Qt.point((vx - content.x) / zoom, (vy - content.y) / zoom) }
    function viewCentre() { return toCanvas(width / 2, height / 2) }
    function zoomAt(factor, vx, vy) {
        const c = toCanvas(vx, vy)
        zoom = clamp(zoom * factor, 0.1, 4)
        content.x = vx - c.x * zoom
        content.y = vy - c.y * zoom
    }
    function frameAll() {
        const b = document.bounds([])
        if (b.width <= 0 || width <= 0) { zoom = 1; content.x = 40; content.y = 40; return }
        const m = 60
        zoom = clamp(Math.min((width - 2 * m) / b.width, (height - 2 * m) / b.height), 0.1, 1.5)
        content.x = (width - b.width * zoom) / 2 - b.x * zoom
        content.y = (height - b.height * zoom) / 2 - b.y * zoom
        // A jump, not a gesture: the faces take their detail now and paint once, not scaled first and
        // repainted after settleMs.
        zoomSettle.stop()
        faceDetail = detailFor(zoom)
    }
    function openPalette(vx, vy) {
        const at = vx === undefined ? viewCentre() : toCanvas(vx, vy)
        palette.openAt(at.x, at.y)
    }
    function beginWire(nodeId, port, fromOutput, type, start) {
        wireNode = nodeId; wirePort = port; wireFromOutput = fromOutput; wireType = type
        wireStart = start; wireEnd = start; wireActive = true
    }
    function endWire(p) {
        wireActive = false
        const hit = document.portAt(p.x, p.y)
        if (hit.nodeId === undefined || hit.output === wireFromOutput) return
        if (wireFromOutput) document.connectPorts(wireNode, wirePort, hit.nodeId, hit.port)
        else document.connectPorts(hit.nodeId, hit.port, wireNode, wirePort)
    }

    // What a press, drag and release on a node or a port do, in one place for the node items (NodeItem.qml)
    // and, zoomed far out, the background (hit-testing in C++). Points are in canvas units.
    // A node: the press selects (shift toggles; a press on a selected node keeps the group), a drag moves
    // the selection as one undo step, ended by the release (or a cancel: the grab lost mid-way).
    property point nodeDragAt
    property point nodeDragApplied
    function pressNode(id, shift, p) {
        forceActiveFocus()
        if (shift || document.selection.indexOf(id) < 0) document.select(id, shift)
        nodeDragAt = p
        nodeDragApplied = Qt.point(0, 0)
    }
    function dragNodes(p) {
        const dx = Math.round(p.x - nodeDragAt.x) - nodeDragApplied.x
        const dy = Math.round(p.y - nodeDragAt.y) - nodeDragApplied.y
        if ((dx !== 0 || dy !== 0) && document.moveNodes(document.selection, dx, dy, true))
            nodeDragApplied = Qt.point(nodeDragApplied.x + dx, nodeDragApplied.y + dy)
    }
    function endNodeDrag() { document.endInteraction() }
    // A port: the press starts a wire at its centre, a drag moves the wire's loose end, the release
    // connects where it is dropped; a click (no drag) on a connected input disconnects it. A cancel drops
    // the wire.
    property bool wireDragged: false
    property bool wireFromConnectedInput: false
    function pressPort(nodeId, port, fromOutput, type, connected, centre) {
        forceActiveFocus()
        wireDragged = false
        wireFromConnectedInput = !fromOutput && connected
        beginWire(nodeId, port, fromOutput, type, centre)
    }
    function dragWire(p) {
        wireDragged = true
        wireEnd = p
    }
    function releaseWire(p) {
        if (wireDragged) { endWire(p); return }
        wireActive = false
        if (wireFromConnectedInput) document.disconnectPort(wireNode, wirePort)
    }
    function cancelWire() { wireActive = false }

    Keys.onPressed: function(event) {
        if (event.key === Qt.Key_Space && !event.isAutoRepeat) { spaceHeld = true; event.accepted = true }
        else if (event.key === Qt.Key_Tab) { openPalette(); event.accepted = true }
        else if (event.key === Qt.Key_F) { frameAll(); event.accepted = true }
        else if (event.key === Qt.Key_Backspace || event.key === Qt.Key_X) { document.removeSelected(); event.accepted = true }
    }
    Keys.onReleased: function(event) {
        if (event.key === Qt.Key_Space && !event.isAutoRepeat) { spaceHeld = false; event.accepted = true }
    }

    Rectangle { anchors.fill: parent; color: Theme.background }

    // Grid: minor lines every 20 canvas units, major every 100, drawn over the background above: line
    // geometry on hardware renderers, a painted tile on the software one (app/editor/canvas_grid.h).
    CanvasGrid {
        objectName: "grid"
        anchors.fill: parent
        zoom: canvas.zoom
        originX: content.x
        originY: content.y
        step: 20
        majorEvery: 5
        color: Theme.grid
        majorColor: Theme.gridMajor
        background: Theme.background
    }

    // Background: pan, box select, palette, zoom; zoomed far out also the nodes (select, drag, wires,
    // their message on hover), hit-tested in C++.
    MouseArea {
        id: background
        objectName: "background"
        anchors.fill: parent
        acceptedButtons: Qt.LeftButton | Qt.MiddleButton
        hoverEnabled: canvas.far
        property point last
        property bool panning: false
        property bool boxing: false
        property point boxStart
        // Zoomed far out: a node or a wire being dragged (canvas.pressNode, pressPort), and the node under
        // the mouse with its message, kept up to date while it changes (an evaluation reporting; through
        // statesChanged, since no row is in view here and dataChanged tells states only to rows in view).
        property bool nodeDrag: false
        property bool wiring: false
        property string hoverNode: ""
        property string hoverMessage: ""
        ToolTip.visible: canvas.far && hoverMessage !== ""
        ToolTip.text: hoverMessage
        function hover(id) {
            hoverNode = id
            hoverMessage = id === "" ? "" : canvas.document.nodes.message(id)
        }
        Connections {
            target: background.hoverNode !== "" ? canvas.document.nodes : null
            function onStatesChanged() { background.hover(background.hoverNode) }
            function onModelReset() { background.hover("") }
        }
        function farPress(mouse) {
            const c = canvas.toCanvas(mouse.x, mouse.y)
            const port = canvas.document.portAt(c.x, c.y, 14)
            if (port.nodeId !== undefined) {
                wiring = true
                canvas.pressPort(port.nodeId, port.port, port.output, port.type, port.connected, Qt.point(port.x, port.y))
                return true
            }
            const id = canvas.document.nodeAt(c.x, c.y)
            if (id === "") return false
            nodeDrag = true
            canvas.pressNode(id, (mouse.modifiers & Qt.ShiftModifier) !== 0, c)
            return true
        }
        onPressed: function(mouse) {
            canvas.forceActiveFocus()
            last = Qt.point(mouse.x, mouse.y)
            panning = mouse.button === Qt.MiddleButton || canvas.spaceHeld
            nodeDrag = false; wiring = false
            boxing = !panning && !(canvas.far && farPress(mouse))
            boxStart = last
            band.x = mouse.x; band.y = mouse.y; band.width = 0; band.height = 0
        }
        onPositionChanged: function(mouse) {
            if (panning) {
                content.x += mouse.x - last.x
                content.y += mouse.y - last.y
            } else if (boxing) {
                band.x = Math.min(boxStart.x, mouse.x); band.y = Math.min(boxStart.y, mouse.y)
                band.width = Math.abs(mouse.x - boxStart.x); band.height = Math.abs(mouse.y - boxStart.y)
            } else if (wiring) {
                canvas.dragWire(canvas.toCanvas(mouse.x, mouse.y))
            } else if (nodeDrag) {
                canvas.dragNodes(canvas.toCanvas(mouse.x, mouse.y))
            } else if (canvas.far) {
                const c = canvas.toCanvas(mouse.x, mouse.y)
                hover(canvas.document.nodeAt(c.x, c.y))
            }
            last = Qt.point(mouse.x, mouse.y)
        }
        onExited: hover("")
        onReleased: function(mouse) {
            if (boxing) {
                const a = canvas.toCanvas(band.x, band.y)
                const additive = (mouse.modifiers & Qt.ShiftModifier) !== 0
                if (band.width < 3 && band.height < 3) { if (!additive) canvas.document.clearSelection() }
                else canvas.document.selectInRect(a.x, a.y, band.width / canvas.zoom, band.height / canvas.zoom, additive)
            } else if (wiring) {
                canvas.releaseWire(canvas.toCanvas(mouse.x, mouse.y))
            } else if (nodeDrag) {
                canvas.endNodeDrag()
            }
            panning = false
            boxing = false
            nodeDrag = false
            wiring = false
        }
        onCanceled: {
            if (nodeDrag) canvas.endNodeDrag()
            if (wiring) canvas.cancelWire()
            panning = false; boxing = false; nodeDrag = false; wiring = false
        }
        onDoubleClicked: function(mouse) { canvas.openPalette(mouse.x, mouse.y) }
        onWheel: function(wheel) { canvas.zoomAt(wheel.angleDelta.y > 0 ? 1.15 : 1 / 1.15, wheel.x, wheel.y) }
    }

    Item {
        id: content
        objectName: "content"  // its x, y and the canvas zoom map canvas units to the view
        transformOrigin: Item.TopLeft
        scale: canvas.zoom

        // All wires as one geometry, rebuilt only when they change (app/editor/wire_layer.h).
        WireLayer {
            objectName: "wires"
            model: canvas.document.edges
            lineWidth: 2.5
            coarse: canvas.far  // fewer segments per wire zoomed far out
        }

        Repeater {
            model: canvas.document.nodes
            delegate: NodeItem {
                required property var model
                board: canvas
                doc: canvas.document
                nodeId: model.nodeId
                typeName: model.type
                x: model.x
                y: model.y
                width: model.width
                height: model.height
                visible: model.inView
                inputs: model.inputs
                outputs: model.outputs
                summary: model.summary
                known: model.known
                selected: model.selected
                evalState: model.state
                progress: model.progress
                message: model.message
            }
        }

        // Zoomed far out: every node, in place of the delegates above (hidden meanwhile).
        FarNodeLayer {
            objectName: "farNodes"
            visible: canvas.far
            model: canvas.document.nodes
            bodyColor: Theme.nodeBody
            headerColor: Theme.nodeHeader
            selectionColor: Theme.selection
            errorColor: Theme.error
            ringColor: Theme.text
            stateColors: Theme.stateColors
            highlightType: canvas.wireActive ? canvas.wireType : ""
            highlightInputs: canvas.wireFromOutput
            highlightExcept: canvas.wireNode
        }

        Shape {
            visible: canvas.wireActive
            ShapePath {
                strokeColor: Theme.text
                strokeWidth: 2
                strokeStyle: ShapePath.DashLine
                fillColor: "transparent"
                startX: canvas.wireStart.x; startY: canvas.wireStart.y
                PathLine { x: canvas.wireEnd.x; y: canvas.wireEnd.y }
            }
        }
    }

    Rectangle {
        id: band
        visible: background.boxing && (width > 2 || height > 2)
        color: "#204aa3ff"
        border.color: Theme.selection
    }

    Label {
        anchors.centerIn: parent
        visible: canvas.document.nodeCount === 0
        color: Theme.textDim
        text: qsTr("Press Tab or double-click to add a node")
    }

    NodePalette {
        id: palette
        document: canvas.document
    }
}
