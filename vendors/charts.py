"""Small SVG charts rendered on the server (no JavaScript, no CDN): every bar is a link to the
list behind it and carries its number in a <title> tooltip."""
from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, PAD, LABELS = 640, 180, 24, 22


def _n(value: float) -> str:
    """A coordinate with one decimal (format_html escapes its arguments to text first)."""
    return f"{value:.1f}"


def stacked_bars(columns: list[tuple[str, list[tuple[str, int, str]]]], colours: dict[str, str],
                 title: str) -> SafeString:
    """One stacked bar per column: ``[(label, [(series, value, url), …]), …]``."""
    top = max([sum(v for _, v, _ in parts) for _, parts in columns] + [1])
    step = (WIDTH - 2 * PAD) / max(1, len(columns))
    bar = max(2.0, step * 0.7)
    plot = HEIGHT - LABELS - PAD
    shapes = []
    every = max(1, len(columns) // 10)                     # at most ~10 day labels
    for i, (label, parts) in enumerate(columns):
        x = PAD + i * step + (step - bar) / 2
        y = HEIGHT - LABELS
        for series, value, url in parts:
            if not value:
                continue
            h = plot * value / top
            y -= h
            shapes.append(format_html(
                '<a href="{}"><rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                '<title>{}: {} {}</title></rect></a>', url, _n(x), _n(y), _n(bar), _n(h), colours.get(series, "#607d8b"),
                label, value, series))
        if i % every == 0:
            shapes.append(format_html('<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>',
                                      _n(x + bar / 2), HEIGHT - 6, label))
    legend = format_html_join("", '<tspan fill="{}">■</tspan> {}  ',
                              ((colour, series) for series, colour in colours.items()))
    return format_html(
        '<svg class="lh-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" height="{}" '
        'xmlns="http://www.w3.org/2000/svg"><text x="{}" y="14" font-size="12">{} (max {})</text>'
        '<text x="{}" y="14" font-size="11" text-anchor="end">{}</text>{}'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/></svg>',
        title, WIDTH, HEIGHT, WIDTH, HEIGHT, PAD, title, top, WIDTH - PAD, legend, mark_safe("".join(shapes)),
        PAD, HEIGHT - LABELS, WIDTH - PAD, HEIGHT - LABELS)


def bars(items: list[tuple[str, int, str]], title: str) -> SafeString:
    """Horizontal bars: ``[(label, value, url), …]``."""
    if not items:
        return format_html('<p class="lh-empty">{}: none in this period.</p>', title)
    top = max(v for _, v, _ in items) or 1
    row, label_w, width = 22, 110, 420
    shapes = []
    for i, (label, value, url) in enumerate(items):
        y = 22 + i * row
        w = max(1.0, (width - label_w - 60) * value / top)
        shapes.append(format_html(
            '<text x="0" y="{}" font-size="11">{}</text><a href="{}"><rect x="{}" y="{}" width="{}" '
            'height="14" fill="#1976d2"><title>{}: {}</title></rect><text x="{}" y="{}" font-size="11">{}'
            '</text></a>', y + 11, label, url, label_w, y, _n(w), label, value, _n(label_w + w + 4), y + 11, value))
    height = 22 + len(items) * row
    return format_html('<svg class="lh-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" '
                       'height="{}" xmlns="http://www.w3.org/2000/svg"><text x="0" y="12" font-size="12">{}</text>'
                       '{}</svg>', title, width, height, width, height, title, mark_safe("".join(shapes)))
