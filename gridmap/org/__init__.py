"""Organisation layout (DESIGN §1, §3, §5): community → compound (grid) branch → building group.

``organise`` turns a classification, buildings and a member ledger into a tree of party units:

- one unit per community, its kind by its members (DESIGN §3): a party committee (党委) from
  ``community_committee_min`` members, a general branch (党总支) from ``community_general_branch_min``,
  else a branch (党支部); grids without a community take their street, else a section of
  neighbouring grids (第1片区 …), never one unit for a whole city;
- beneath it, units that follow the three situations: a compound unit with its grids' units
  beneath (``large_compound``), a grid unit with its compounds' units beneath (``large_grid``: the
  compound tier, a branch per compound under a grid general branch, a group per compound under a
  grid branch), one compound (grid) branch (``equal``); ``mixed`` compounds are laid out on the
  alignment proposal when there is one, else on their main grid, and flagged for review;
- member counts then decide the kind of each unit (thresholds of DESIGN §3, all configurable): over
  ``branch_max`` members a general branch with branches beneath, split by grid or compound, else by
  clusters of neighbouring buildings; under ``branch_min`` a joint branch with neighbouring small
  units, or part of the nearest branch;
- building groups (党小组): one per building with at least ``group_min`` members, the other buildings
  join the nearest such building's group, and each of them gets a party-member central household.

Members are counted, never listed: the unit table holds counts per category, no names or phones.

The package, in the order a run goes through it:

- ``ledger`` — reading and standardising the member ledger (台账): columns, ids, categories, identities;
- ``area`` — compounds, grids and buildings with their labels and communities (``community_area``);
- ``parts`` — the situations as parts (territories that may become units), small parts combined;
- ``layout`` — ``organise``: parts become units, general branches split, buildings grouped; in three
  steps (``prepare_layout`` for the whole area, ``lay_out`` per community, ``finish_layout``) for runs
  that lay communities out in other processes;
- ``model`` — the result, ``Organisation`` and ``Thresholds``, and ``merge_organisations``;
- ``funding`` — the funding estimate of a district's policy (``funding.csv``);
- ``candidates`` — secretary and committee candidates from the ledger's 身份 (roster only);
- ``programme`` — the report's further tables: community level, funding, candidate counts,
  property management, roll-ups by street and district;
- ``tables`` — the outputs' content (JSON text, workbook sheets, roster and candidate sheets);
- ``write`` — writing them through ``gridmap.io``;
- ``names`` — labels (龙城花园小区, 3号楼), natural order (2 before 10), id text.
"""

from gridmap.org.area import community_area
from gridmap.org.candidates import candidate_counts, committee_candidates, secretary_candidates
from gridmap.org.funding import FUNDING_COLUMNS, FundingPolicy, funding_table
from gridmap.org.ledger import CATEGORY_WORDS, IDENTITY_WORDS, LEDGER_COLUMNS, read_ledger, standardise_ledger
from gridmap.org.layout import Prepared, Share, finish_layout, lay_out, organise, prepare_layout
from gridmap.org.model import (BRANCH_KINDS, CATEGORIES, CATEGORY_COLUMNS, KIND_NAMES, KINDS, NO_BUILDING, NO_GEOMETRY,
                               OUTSIDE, UNIT_COLUMNS, UNKNOWN_BUILDING, Organisation, Thresholds, merge_organisations,
                               reason_label)
from gridmap.org.names import natural_key
from gridmap.org.programme import Section, Table, funding_for, programme_sections, property_status
from gridmap.org.write import write_organisation, write_roster, write_workbook

__all__ = ["BRANCH_KINDS", "CATEGORIES", "CATEGORY_COLUMNS", "CATEGORY_WORDS", "FUNDING_COLUMNS", "FundingPolicy",
           "IDENTITY_WORDS", "KINDS", "KIND_NAMES", "LEDGER_COLUMNS", "NO_BUILDING", "NO_GEOMETRY", "OUTSIDE",
           "Organisation", "Prepared", "Section", "Share", "Table", "Thresholds", "UNIT_COLUMNS", "UNKNOWN_BUILDING",
           "candidate_counts", "committee_candidates", "community_area", "finish_layout", "funding_for",
           "funding_table", "lay_out", "merge_organisations", "natural_key", "organise", "prepare_layout",
           "programme_sections", "property_status", "read_ledger", "reason_label", "secretary_candidates",
           "standardise_ledger", "write_organisation", "write_roster", "write_workbook"]
