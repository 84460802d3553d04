"""Views: static and interactive figures of every analysis.

- `surface`: matplotlib figures of lines and planes (`line_plot`, `contour`,
  `heatmap`, `surface3d`) and `save`; `surface_html`: their plotly twins;
- `curvature`, `paths`, `geometry`, `topology` (+ `topology_html`), `runs`:
  the figures of each analysis; `interactive`: the plotly specs the report
  embeds;
- `outputs`: the standard figures every command writes beside its arrays.

Figures are `matplotlib.figure.Figure` objects, never pyplot state, so they
are safe to make in threads and tests.
"""

from lossatlas.plot.surface import DPI, FORMATS, contour, heatmap, line_plot, save, surface3d

__all__ = ["DPI", "FORMATS", "contour", "heatmap", "line_plot", "save", "surface3d"]
