"""The results engine: pure functions over counted ballots, below every feature that
counts, checks or documents results (forms, voting, results, rounds, paper).

    config.py   ResultRules: the rules a round's results follow, their checked shapes
    engine.py   the computation (k-anonymity, rates, rankings, weights, flags)
    levels.py   levels (等次) and vetoes, in the rules' language
    fields.py   the API's marshmallow fields for thresholds and rule lists

Results as stored, shown and exported (with their database and Redis reads) live
above, in server/results/.
"""
