import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs
import Lattice.Model

// One parameter in the inspector. The widget follows the parameter type: slider (ranged float), text
// field (other floats, strings), spin box (int), check box, combo box (choice), path field with a file
// dialog, seed field with randomise, colour as four numbers. Every change goes to GraphDocument.setParam;
// slider drags are continuous edits that merge into one undo step.
ColumnLayout {
    id: editor
    required property GraphDocument document
    property string nodeId
    property string name
    property string type
    property var value
    property bool isExplicit
    property string description
    property bool hasMin
    property bool hasMax
    property real min
    property real max
    property var choices: []

    spacing: 2

    function commit(v, continuous) { return document.setParam(nodeId, name, v, continuous === true) }

    RowLayout {
        Layout.fillWidth: true
        Label {
            Layout.fillWidth: true
            text: editor.name
            color: editor.isExplicit ? Theme.text : Theme.textDim
            font.bold: editor.isExplicit
            elide: Text.ElideRight
            ToolTip.visible: nameHover.containsMouse && editor.description !== ""
            ToolTip.text: editor.description
            MouseArea { id: nameHover; anchors.fill: parent; hoverEnabled: true; acceptedButtons: Qt.NoButton }
        }
        ToolButton {
            visible: editor.isExplicit
            text: "\u21ba"
            implicitHeight: 22
            implicitWidth: 22
            ToolTip.visible: hovered
            ToolTip.text: qsTr("Reset to default")
            onClicked: editor.document.resetParam(editor.nodeId, editor.name)
        }
    }

    Loader {
        Layout.fillWidth: true
        sourceComponent: {
            switch (editor.type) {
            case "float": return editor.hasMin && editor.hasMax ? sliderEditor : numberEditor
            case "int": return intEditor
            case "bool": return boolEditor
            case "choice": return choiceEditor
            case "input_path":
            case "output_path": return pathEditor
            case "seed": return seedEditor
            case "color": return colorEditor
            default: return textEditor
            }
        }
    }

    Component {
        id: sliderEditor
        RowLayout {
            Slider {
                id: slider
                Layout.fillWidth: true
                from: editor.min
                to: editor.max
                value: Number(editor.value)
                onMoved: editor.commit(value, true)
                onPressedChanged: if (!pressed) editor.document.endInteraction()
            }
            TextField {
                Layout.preferredWidth: 70
                text: Number(editor.value).toPrecision(4)
                validator: DoubleValidator {}
                onEditingFinished: editor.commit(parseFloat(text))
            }
        }
    }
    Component {
        id: numberEditor
        TextField {
            text: String(editor.value)
            validator: DoubleValidator {}
            onEditingFinished: editor.commit(parseFloat(text))
        }
    }
    Component {
        id: intEditor
        SpinBox {
            editable: true
            from: editor.hasMin ? Math.max(editor.min, -2147483647) : -2147483647
            to: editor.hasMax ? Math.min(editor.max, 2147483647) : 2147483647
            value: Number(editor.value)
            onValueModified: editor.commit(value)
        }
    }
    Component {
        id: boolEditor
        CheckBox {
            checked: editor.value === true
            onToggled: editor.commit(checked)
        }
    }
    Component {
        id: choiceEditor
        ComboBox {
            model: editor.choices
            currentIndex: editor.choices.indexOf(String(editor.value))
            onActivated: function(i) { editor.commit(editor.choices[i]) }
        }
    }
    Component {
        id: textEditor
        TextField {
            text: String(editor.value)
            onEditingFinished: if (text !== String(editor.value)) editor.commit(text)
        }
    }
    Component {
        id: pathEditor
        RowLayout {
            TextField {
                id: pathField
                Layout.fillWidth: true
                text: String(editor.value)
                placeholderText: editor.type === "input_path" ? qsTr("file to read") : qsTr("file to write")
                onEditingFinished: if (text !== String(editor.value)) editor.commit(text)
            }
            Button {
                text: "\u2026"
                implicitWidth: 32
                onClicked: pathDialog.open()
            }
            FileDialog {
                id: pathDialog
                fileMode: editor.type === "input_path" ? FileDialog.OpenFile : FileDialog.SaveFile
                onAccepted: editor.commit(selectedFile.toString())
            }
        }
    }
    Component {
        id: seedEditor
        RowLayout {
            TextField {
                Layout.fillWidth: true
                text: String(editor.value)
                validator: RegularExpressionValidator { regularExpression: /[0-9]{1,20}/ }
                onEditingFinished: if (text !== String(editor.value)) editor.commit(text)
            }
            Button {
                text: qsTr("Randomise")
                onClicked: editor.commit(editor.document.randomSeed())
            }
        }
    }
    Component {
        id: colorEditor
        RowLayout {
            Rectangle {
                implicitWidth: 24
                implicitHeight: 24
                border.color: "#111111"
                color: editor.value && editor.value.length === 4
                       ? Qt.rgba(editor.value[0], editor.value[1], editor.value[2], editor.value[3]) : "transparent"
            }
            TextField {
                Layout.fillWidth: true
                text: editor.value ? editor.value.map(function(c) { return Number(c).toFixed(3) }).join(" ") : ""
                onEditingFinished: {
                    const parts = text.trim().split(/[\s,]+/).map(Number)
                    if (parts.length === 4 && parts.every(function(p) { return !isNaN(p) })) editor.commit(parts)
                }
            }
        }
    }
}
