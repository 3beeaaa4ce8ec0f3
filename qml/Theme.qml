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

    function stateColor(state) {
        switch (state) {
        case "dirty": return "#c9a227"
        case "queued": return "#8a8f98"
        case "running": return "#4aa3ff"
        case "done": return "#5cc46a"
        case "cached": return "#3f8f4d"
        case "failed": return "#ff6b6b"
        case "invalid": return "#e08a3c"
        case "blocked": return "#7a5c5c"
        default: return "#60646b"
        }
    }
}
