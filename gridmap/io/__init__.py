"""IO at the edge: reading layers and tables, and one writer per kind of output.

Nothing else in gridmap opens a file for its data: the core (classify, align, org, …) takes and
returns frames, and the jobs (``gridmap.jobs``) read with this package, call the core and write
with it, as geopandas keeps its ``io`` apart from its ``tools``.
"""

from gridmap.io.crs import feature_areas, metric_crs, parse_crs, reconcile, warn_if_far_apart
from gridmap.io.fields import find_field, id_strings, numeric_if_clean
from gridmap.io.layers import (VECTOR_SUFFIXES, WKT_COLUMNS, LayerSpec, ReadOptions, layer_name, list_layers,
                               parse_layer_spec, read_layer, shapefile_encoding)
from gridmap.io.tables import decode_text
from gridmap.io.write import atomic_path, gpkg_columns, write_csv, write_gpkg, write_text

__all__ = ["LayerSpec", "ReadOptions", "VECTOR_SUFFIXES", "WKT_COLUMNS", "atomic_path", "decode_text",
           "feature_areas", "find_field", "gpkg_columns", "id_strings", "layer_name", "list_layers", "metric_crs",
           "numeric_if_clean", "parse_crs", "parse_layer_spec", "read_layer", "reconcile",
           "shapefile_encoding", "warn_if_far_apart", "write_csv", "write_gpkg", "write_text"]
