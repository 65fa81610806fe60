"""Organisation layout (DESIGN §1, §3, §5): community → compound (grid) branch → building group.

``organise`` turns a classification, buildings and a member ledger into a tree of party units:

- one community party committee (社区党委) per community (the whole area when none is given);
- beneath it, units that follow the three situations: a compound unit with its grids' units
  beneath (``large_compound``), a grid unit with its compounds' units beneath (``large_grid``), one
  compound (grid) branch (``equal``); ``mixed`` compounds are laid out on the alignment proposal when
  there is one, else on their main grid, and flagged for review;
- member counts then decide the kind of each unit (thresholds of DESIGN §3, all configurable): over
  ``branch_max`` members a general branch (党总支) with branches beneath, split by grid or compound,
  else by clusters of neighbouring buildings; under ``branch_min`` a joint branch (联合党支部) with
  neighbouring small units, or part of the nearest branch; ``committee_min`` or more a committee;
- building groups (党小组): one per building with at least ``group_min`` members, the other buildings
  join the nearest such building's group, and each of them gets a party-member central household
  (党员中心户).

Members are counted, never listed: the unit table holds counts per category, no names or phones.

The package, in the order a run goes through it:

- ``ledger`` — reading and standardising the member ledger (台账): columns, ids, categories;
- ``area`` — compounds, grids and buildings with their labels and communities (``community_area``);
- ``parts`` — the situations as parts (territories that may become units), small parts combined;
- ``layout`` — ``organise``: parts become units, general branches split, buildings grouped;
- ``model`` — the result, ``Organisation`` and ``Thresholds``, and ``merge_organisations``;
- ``tables`` — the outputs' content (JSON text, workbook sheets, roster table);
- ``write`` — writing them through ``gridmap.io``;
- ``names`` — labels (龙城花园小区, 3号楼), natural order (2 before 10), id text.
"""

from gridmap.org.area import community_area
from gridmap.org.ledger import CATEGORY_WORDS, LEDGER_COLUMNS, read_ledger, standardise_ledger
from gridmap.org.layout import organise
from gridmap.org.model import (BRANCH_KINDS, CATEGORIES, CATEGORY_COLUMNS, KIND_NAMES, KINDS, NO_BUILDING, NO_GEOMETRY,
                               OUTSIDE, UNIT_COLUMNS, UNKNOWN_BUILDING, Organisation, Thresholds, merge_organisations)
from gridmap.org.names import natural_key
from gridmap.org.write import write_organisation, write_roster, write_workbook

__all__ = ["BRANCH_KINDS", "CATEGORIES", "CATEGORY_COLUMNS", "CATEGORY_WORDS", "KINDS", "KIND_NAMES", "LEDGER_COLUMNS",
           "NO_BUILDING", "NO_GEOMETRY", "OUTSIDE", "Organisation", "Thresholds", "UNIT_COLUMNS", "UNKNOWN_BUILDING",
           "community_area", "merge_organisations", "natural_key", "organise", "read_ledger", "standardise_ledger",
           "write_organisation", "write_roster", "write_workbook"]
