"""Operating pingyi: backups and restores, schema revisions, `pingyi doctor`."""
