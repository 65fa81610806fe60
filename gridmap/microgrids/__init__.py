"""Micro-grids (微网格): each grid cut into pieces of about 30–100 households, made of whole buildings.

How (docs/design.md §1, issue 4):

1. Buildings go to the grid holding most of their footprint (points: the grid they lie in). A
   building that crosses a grid boundary is clipped to its grid: micro-grids tile grids, so the
   part beyond the boundary belongs to the neighbouring grid's territory; such buildings are
   flagged ``crosses_grid`` in the ``buildings`` layer.
2. Each grid (or, with streets, each street block of a grid) is cut by recursive coordinate
   bisection, all grids level by level with array operations: a piece holding more than MAX
   households is cut by an axis-parallel line into two pieces whose household totals are in the
   ratio of the micro-grids each should hold. Cut positions that pass between buildings are
   preferred (every building then lies on one side); the long axis is preferred, which keeps
   pieces compact.
3. Pieces under MIN households join a neighbour (longest shared border) while the sum stays
   within MAX; pieces without households always join one.
4. Where a cut had to cross a building, the building's footprint is handed to the piece it was
   counted in, so every building lies inside its micro-grid.
5. Stray parts (a non-convex grid cut by a straight line can fall apart) join the neighbour with
   the longest shared border, with their buildings.
6. Micro-grids are numbered like a page is read: in bands from north to south, each band as tall
   as a typical micro-grid of the grid (square root of grid area / count), west to east within a
   band. Codes extend the grid's code: ``WG010203`` → ``WG010203-01``, ``-02``, …

Everything that touches geometry is vectorised over the grids of a community at once (the area-wide
steps, ``prepare_cut``, run once; each community's grids are cut by ``cut_share``, possibly in
another process; ``finish_cut`` numbers them); Python loops run over merges and stray parts only,
which are few.
"""

from gridmap.microgrids.core import (CutShare, Cutting, MicroGrids, StaffingWarning, UnplacedBuildingWarning,
                                     assign_to_grids, assign_workers, cut_share, finish_cut, microgrid_codes, microgrids,
                                     prepare_cut, reading_order, street_blocks)
from gridmap.microgrids.cut import CLEAN_TOLERANCE, bisect
from gridmap.microgrids.merge import hand_over_buildings, merge_small, merge_strays

__all__ = ["CLEAN_TOLERANCE", "CutShare", "Cutting", "MicroGrids", "StaffingWarning", "UnplacedBuildingWarning", "assign_to_grids",
           "assign_workers", "bisect", "cut_share", "finish_cut", "hand_over_buildings", "merge_small", "merge_strays", "microgrid_codes",
           "microgrids", "prepare_cut", "reading_order", "street_blocks"]
