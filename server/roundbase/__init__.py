"""What every layer may know of a round, below the features that use it.

    models.py   the Round, its subjects and voter categories (the rows)
    reads.py    a round by id (404 round_not_found)
    shuffle.py  close's rewrite of a round's ballots, comments and claims in random order
    scrub.py    after close: no old row image left in the database's files or pg_wal

The round's lifecycle (create, open, close, publish) sits above, in server/rounds/,
with the forms, tokens, voting and results it drives.
"""
