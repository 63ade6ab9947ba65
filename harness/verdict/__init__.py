"""What a cell means: compare.py (parameters and predictions, numpy only), judge.py (a
worker result -> status and notes), rows.py (the one row builder: a cell's row from its save
and load outcomes) and decide.py (the one place that says what a cell and an upgrade mean:
break, already fails, fixed).  Every report only renders what this wing decides.  It may
import plan and cache (rows keep the judged verdict beside the load cache entry)."""
