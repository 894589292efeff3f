"""`scrapy export` and `scrapy report`: the harvest's database as research files.

No Scrapy import. pyarrow, NetworkX and matplotlib are imported only when a file is written,
so `scrapy crawl` never pays for them.

- formats.py: the export formats, declared once (parquet, csv: a directory of tables;
  graphml, gexf: one graph file);
- graphs.py: the graphs, declared once (engagements, follows, co_like) and built with NetworkX;
- columns.py: each column's type in a file (64-bit ids, timestamps, `tags` a list);
- tables.py: tables streamed in batches bounded in bytes, one file each;
- job.py: one export, its options checked in one line each; database.py: opening the database
  as a reader beside a harvest; progress.py: the bar; errors.py: ExportError;
- report/: `scrapy report`, one self-contained HTML page with matplotlib's SVG figures.
"""

from __future__ import annotations

from sgr_scrapy.export.errors import ExportError
from sgr_scrapy.export.formats import FORMATS, Format
from sgr_scrapy.export.graphs import GRAPHS, NODE_KINDS, Graph
from sgr_scrapy.export.job import DEFAULT_GRAPH, ExportJob

__all__ = [
    "DEFAULT_GRAPH",
    "FORMATS",
    "GRAPHS",
    "NODE_KINDS",
    "ExportError",
    "ExportJob",
    "Format",
    "Graph",
]
