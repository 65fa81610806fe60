"""gridmap: compounds (小区), grids (网格) and the three situations of community governance.

The same functions the ``gridmap`` command runs are importable::

    import gridmap
    compounds = gridmap.read_layer("boundaries/compounds.geojson")
    grids = gridmap.read_layer("boundaries/grids.geojson")
    result = gridmap.classify(compounds, grids)
    result.compounds.situation.value_counts()
"""

from gridmap.classify import Classification, classify
from gridmap.io import metric_crs, read_layer

__all__ = ["Classification", "classify", "metric_crs", "read_layer"]
__version__ = "0.1.0"
