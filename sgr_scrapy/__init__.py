"""sgr-scrapy: a Scrapy harvester of SoundCloud's social graph into SQLite."""

__version__ = "0.1.0"
