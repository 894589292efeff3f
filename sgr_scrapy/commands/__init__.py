"""Project commands: `crawl` with one-line errors and an exit status that tells the outcome."""
