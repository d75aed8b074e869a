"""`make bench`: the production server under load, measured side by side."""
