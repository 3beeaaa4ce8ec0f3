pragma Singleton
import QtQuick

// Colours and sizes shared by the editor's QML.
QtObject {
    readonly property color background: "#1e1f22"
    readonly property color panel: "#2b2d30"
    readonly property color grid: "#2a2b2e"
    readonly property color gridMajor: "#34363a"
    readonly property color nodeBody: "#3a3c40"
    readonly property color nodeHeader: "#4a4d52"
    readonly property color selection: "#4aa3ff"
    readonly property color text: "#e6e6e6"
    readonly property color textDim: "#a0a4ab"
    readonly property color error: "#ff6b6b"

    // Badge colour of each evaluation state (NodeListModel::setState), for NodeFace and FarNodeLayer.
    readonly property var stateColors: ({
        "idle": "#60646b",
        "dirty": "#c9a227",
        "queued": "#8a8f98",
        "running": "#4aa3ff",
        "done": "#5cc46a",
        "cached": "#3f8f4d",
        "failed": "#ff6b6b",
        "invalid": "#e08a3c",
        "blocked": "#7a5c5c"
    })
    function stateColor(state) { return stateColors[state] || stateColors.idle }
}
