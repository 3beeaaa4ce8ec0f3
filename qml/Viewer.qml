import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Lattice.Model

// The viewer: the current node's Image or Video output (drawn by the C++ ImageViewer), wheel zoom around
// the cursor, drag to pan, double-click to fit; other outputs are described in text. Exposure, gamma and
// channel change only what is displayed; the read-out shows the stored values under the cursor.
Rectangle {
    id: viewer
    required property GraphDocument document
    color: "#1b1b1b"
    property var readout: ({})

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

        // Display controls.
        RowLayout {
            Layout.fillWidth: true
            Layout.margins: 4
            spacing: 6
            visible: view.hasImage
            ComboBox {
                id: channelBox
                objectName: "channelBox"
                implicitHeight: 26
                Layout.preferredWidth: 76
                model: [qsTr("RGB"), qsTr("R"), qsTr("G"), qsTr("B"), qsTr("A"), qsTr("Luma")]
                onActivated: function(index) { view.channel = index }
            }
            Label { color: Theme.textDim; text: qsTr("EV") }
            Slider {
                id: exposureSlider
                objectName: "exposureSlider"
                Layout.fillWidth: true
                Layout.minimumWidth: 60
                from: -8; to: 8; stepSize: 0.1; value: 0
                onMoved: view.exposure = value
            }
            Label { color: Theme.textDim; text: view.exposure.toFixed(1); Layout.preferredWidth: 28 }
            Label { color: Theme.textDim; text: qsTr("\u03b3") }
            Slider {
                id: gammaSlider
                objectName: "gammaSlider"
                Layout.preferredWidth: 70
                from: 0.2; to: 4; stepSize: 0.05; value: 1
                onMoved: view.gamma = value
            }
            Label { color: Theme.textDim; text: view.gamma.toFixed(2); Layout.preferredWidth: 30 }
            Button {
                text: qsTr("Reset"); implicitHeight: 26
                onClicked: { view.exposure = 0; view.gamma = 1; view.channel = ImageViewer.RGB
                             exposureSlider.value = 0; gammaSlider.value = 1; channelBox.currentIndex = 0 }
            }
        }

        Item {
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            ImageViewer {
                id: view
                objectName: "imageViewer"
                anchors.fill: parent
                evaluator: viewer.document.evaluator
            }
            MouseArea {
                anchors.fill: parent
                acceptedButtons: Qt.LeftButton | Qt.MiddleButton
                hoverEnabled: true
                property point last
                onPressed: function(mouse) { last = Qt.point(mouse.x, mouse.y) }
                onPositionChanged: function(mouse) {
                    if (pressed) {
                        view.panX += mouse.x - last.x
                        view.panY += mouse.y - last.y
                        last = Qt.point(mouse.x, mouse.y)
                    }
                    viewer.readout = view.readout(mouse.x, mouse.y)
                }
                onExited: viewer.readout = ({})
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
            // A running sampler's step preview is shown instead of the result until the run ends.
            Label {
                anchors.left: parent.left
                anchors.top: parent.top
                anchors.margins: 6
                visible: viewer.document.evaluator.previewNode !== ""
                color: Theme.text
                text: viewer.document.evaluator.viewInfo
            }
            // Pixel read-out: coordinates and every stored channel value.
            Label {
                objectName: "pixelReadout"
                anchors.right: parent.right
                anchors.top: parent.top
                anchors.margins: 6
                visible: viewer.readout.values !== undefined
                color: Theme.text
                font.family: "monospace"
                text: {
                    const r = viewer.readout
                    if (r.values === undefined) return ""
                    let parts = []
                    for (let i = 0; i < r.values.length; ++i) parts.push(r.channels[i] + " " + r.values[i].toFixed(4))
                    return "(" + r.x + ", " + r.y + ")  " + parts.join("  ")
                }
            }
        }

        // Video transport.
        RowLayout {
            Layout.fillWidth: true
            Layout.leftMargin: 6
            Layout.rightMargin: 6
            visible: view.isVideo
            spacing: 6
            Button {
                text: view.playing ? qsTr("Pause") : qsTr("Play"); implicitHeight: 26
                onClicked: view.playing = !view.playing
            }
            Slider {
                Layout.fillWidth: true
                from: 0; to: Math.max(0, view.frameCount - 1); stepSize: 1
                value: view.currentFrame
                onMoved: view.currentFrame = Math.round(value)
            }
            Label {
                color: Theme.textDim
                text: qsTr("frame %1 / %2  @ %3 fps").arg(view.currentFrame + 1).arg(view.frameCount).arg(view.fps.toFixed(2))
            }
        }

        RowLayout {
            Layout.fillWidth: true
            Layout.margins: 6
            spacing: 8
            visible: view.hasImage
            Label { color: Theme.textDim; text: view.sizeText + "   " + Math.round(view.zoom * 100) + "%" }
            Button { text: qsTr("Fit"); onClicked: view.fit(); implicitHeight: 24 }
            Button { text: "1:1"; onClicked: { view.zoom = 1; view.panX = 0; view.panY = 0 } implicitHeight: 24 }
            Item { Layout.fillWidth: true }
        }
    }
}
