#!/usr/bin/python3
"""Reads a job file written by `lattice --export-job` with a real parser and prints it as JSON, so that the
C++ test inspects what a farm would read: `yaml FILE` (PyYAML, safe_load) or `xml FILE` (ElementTree; each
element becomes {"tag", "attrib", "text", "children"})."""
import json
import sys
import xml.etree.ElementTree as ET


def element(e):
    return {"tag": e.tag, "attrib": dict(e.attrib), "text": (e.text or "").strip(),
            "children": [element(c) for c in e]}


def main():
    kind, path = sys.argv[1], sys.argv[2]
    if kind == "yaml":
        import yaml
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    else:
        doc = element(ET.parse(path).getroot())
    json.dump(doc, sys.stdout)


main()
