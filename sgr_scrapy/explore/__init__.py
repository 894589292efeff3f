"""`scrapy explore`'s Datasette: what each table and column holds (tables.py), the canned
queries (queries.py), both in Datasette's metadata (metadata.py), and the server (server.py)."""
