"""What Chinese street offices use: a folder per community office (``offices/<community_id>/``) with a
print map (``map.pdf``), the community's tables (``tables.xlsx``) and, when asked for, its member
roster (``roster.xlsx``).

- :mod:`gridmap.offices.assign`: the community of each compound, grid, micro-grid and station;
- :mod:`gridmap.offices.printmap`: the A3/A4 print map (matplotlib, a CJK font found on the machine);
- :mod:`gridmap.offices.workbook`: the workbooks, through :mod:`gridmap.io.xlsx`;
- :mod:`gridmap.offices.core`: :func:`write_offices`, one folder per community.
"""

from gridmap.offices.assign import UNASSIGNED, Assignment, Office, assign
from gridmap.offices.core import OSM_ATTRIBUTION, OfficesResult, guess_attribution, write_offices
from gridmap.offices.printmap import (CJK_FONTS, NO_ORGANISATION, PAPER, PAPERS, TITLE, MapLayers, MapText,
                                      chinese_date, draw_office_map, find_cjk_font, paper_size)
from gridmap.offices.workbook import HEADERS

__all__ = ["Assignment", "CJK_FONTS", "HEADERS", "MapLayers", "MapText", "NO_ORGANISATION", "OSM_ATTRIBUTION",
           "Office", "OfficesResult", "PAPER", "PAPERS", "TITLE", "UNASSIGNED", "assign", "chinese_date",
           "draw_office_map", "find_cjk_font", "guess_attribution", "paper_size", "write_offices"]
