#!/usr/bin/python3
"""Writes the Lattice icon: lattice.svg and lattice-<N>.png (N = 16 ... 256) in this folder, both drawn from
the one shape list below (a rounded square with a 3x3 lattice of nodes and edges). The PNGs are committed;
rerun this after changing the shapes: /usr/bin/python3 packaging/icons/gen-icons.py (needs python3-numpy)."""
import os
import struct
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [16, 24, 32, 48, 64, 128, 256]
TOP, BOTTOM = (0x2B, 0x3A, 0x67), (0x6A, 0x3D, 0x9A)  # background gradient, top to bottom
EDGE, NODE, ACCENT = (255, 255, 255, 0.7), (255, 255, 255, 1.0), (0xFF, 0xB3, 0x47, 1.0)
NODES = [(72 + 56 * i, 72 + 56 * j) for j in range(3) for i in range(3)]
EDGES = [(a, a + 1) for a in range(9) if a % 3 != 2] + [(a, a + 3) for a in range(6)] + [(0, 4), (4, 8)]


def hexcolor(c):
    return "#%02x%02x%02x" % c[:3]


def svg():
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">',
           '  <defs><linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">'
           f'<stop offset="0" stop-color="{hexcolor(TOP)}"/><stop offset="1" stop-color="{hexcolor(BOTTOM)}"/>'
           '</linearGradient></defs>',
           '  <rect x="16" y="16" width="224" height="224" rx="40" fill="url(#bg)"/>',
           f'  <g stroke="{hexcolor(EDGE)}" stroke-opacity="{EDGE[3]}" stroke-width="10" stroke-linecap="round">']
    for a, b in EDGES:
        (x1, y1), (x2, y2) = NODES[a], NODES[b]
        out.append(f'    <line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/>')
    out.append('  </g>')
    for k, (x, y) in enumerate(NODES):
        c = ACCENT if k == 4 else NODE
        out.append(f'  <circle cx="{x}" cy="{y}" r="{20 if k == 4 else 15}" fill="{hexcolor(c)}"/>')
    out.append('</svg>')
    return "\n".join(out) + "\n"


def raster(size, ss=4):
    n = size * ss
    # Sample centres in the SVG's 256-unit space.
    v = (np.arange(n) + 0.5) * 256.0 / n
    x, y = np.meshgrid(v, v)
    rgb = np.zeros((n, n, 3))
    alpha = np.zeros((n, n))

    def paint(mask, color, opacity=1.0):
        nonlocal rgb, alpha
        a = mask * opacity
        col = np.asarray(color, dtype=float)[..., :3] / 255.0
        rgb = rgb * (1 - a[..., None]) + col * a[..., None]
        alpha = alpha * (1 - a) + a

    # Rounded square: distance to a 224x224 box of corner radius 40 centred at 128.
    q = np.maximum(np.abs(np.stack([x - 128, y - 128])) - (112 - 40), 0)
    inside = np.hypot(q[0], q[1]) <= 40
    t = np.clip((y - 16) / 224, 0, 1)[..., None]
    rgb = np.where(inside[..., None], (np.asarray(TOP) * (1 - t) + np.asarray(BOTTOM) * t) / 255.0, 0.0)
    alpha = inside.astype(float)
    for a, b in EDGES:
        (x1, y1), (x2, y2) = NODES[a], NODES[b]
        dx, dy = x2 - x1, y2 - y1
        h = np.clip(((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy), 0, 1)
        d = np.hypot(x - x1 - h * dx, y - y1 - h * dy)
        paint((d <= 5).astype(float), EDGE, EDGE[3])
    for k, (cx, cy) in enumerate(NODES):
        r = 20 if k == 4 else 15
        paint((np.hypot(x - cx, y - cy) <= r).astype(float), ACCENT if k == 4 else NODE)
    # Average the supersamples with premultiplied colour.
    pre = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=2)
    pre = pre.reshape(size, ss, size, ss, 4).mean(axis=(1, 3))
    a = pre[..., 3:4]
    col = np.where(a > 0, pre[..., :3] / np.maximum(a, 1e-9), 0)
    return np.round(np.concatenate([col, a], axis=2) * 255).astype(np.uint8)


def png(pixels):
    h, w, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    with open(os.path.join(HERE, "lattice.svg"), "w") as f:
        f.write(svg())
    for s in SIZES:
        with open(os.path.join(HERE, f"lattice-{s}.png"), "wb") as f:
            f.write(png(raster(s)))


main()
