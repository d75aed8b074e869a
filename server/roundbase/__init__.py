"""What every layer may know of a round, below the features that use it.

    models.py   the Round, its subjects and voter categories (the rows)
    reads.py    a round by id (404 round_not_found)
    shuffle.py  close's rewrite of a round's ballots and comments in random order

The round's lifecycle (create, open, close, publish) sits above, in server/rounds/,
with the forms, tokens, voting and results it drives.
"""
