"""Geometry of the dashboard's server-rendered SVG charts. Templates draw what these compute; every mark
carries its figure as text too (a <title> and a visible label), so the charts read without seeing them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Bar:
    label: str
    value_text: str
    y: int
    width: float
    value_x: float  # where the figure is written, just past the bar's end
    css: str = ""


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars: a label column on the left, bars scaled to the largest value."""

    title: str
    bars: list[Bar]
    width: int
    height: int
    label_width: int
    bar_height: int
    plot_width: int


def bar_chart(
    title: str,
    rows: list[tuple[str, float | Decimal, str, str]],
    *,
    width: int = 560,
    label_width: int = 120,
    bar_height: int = 22,
    gap: int = 10,
    value_room: int = 220,
) -> BarChart:
    """`rows`: (label, value, value text, css class) each."""
    plot_width = width - label_width - value_room
    largest = max((float(value) for _label, value, _text, _css in rows), default=0.0) or 1.0
    bars = []
    for index, (label, value, text, css) in enumerate(rows):
        length = round(max(0.0, float(value)) / largest * plot_width, 1)
        bars.append(
            Bar(
                label=label,
                value_text=text,
                y=index * (bar_height + gap),
                width=length,
                value_x=label_width + length + 6,
                css=css,
            )
        )
    height = max(1, len(rows) * (bar_height + gap) - gap)
    return BarChart(title, bars, width, height, label_width, bar_height, plot_width)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    value: int


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    points: list[Point]

    @property
    def polyline(self) -> str:
        return " ".join(f"{point.x},{point.y}" for point in self.points)


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class LineChart:
    title: str
    series: list[Series]
    ticks: list[Tick]
    width: int
    height: int
    top: int
    bottom: int
    left: int
    right: int
    largest: int


def line_chart(
    title: str,
    labels: list[str],
    series: list[tuple[str, str, list[int]]],
    *,
    width: int = 560,
    height: int = 220,
    margin: int = 36,
) -> LineChart:
    """`series`: (name, css class, one value per label) each; the y axis starts at zero."""
    left, right, top, bottom = margin, width - 12, 12, height - 28
    largest = max((value for _name, _css, values in series for value in values), default=0) or 1
    step = (right - left) / max(1, len(labels) - 1)

    def at(index: int, value: int) -> tuple[float, float]:
        return round(left + index * step, 1), round(bottom - value / largest * (bottom - top), 1)

    drawn = [
        Series(
            name,
            css,
            [
                Point(*at(index, value), label=labels[index], value=value)
                for index, value in enumerate(values)
            ],
        )
        for name, css, values in series
    ]
    every = max(1, len(labels) // 4)
    ticks = [Tick(at(index, 0)[0], label) for index, label in enumerate(labels) if index % every == 0]
    return LineChart(title, drawn, ticks, width, height, top, bottom, left, right, largest)
