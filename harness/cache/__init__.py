"""What later runs reuse: saves.py (artifacts by environment, model, format and worker
code) and loads.py (a load worker's result by artifact and environment, and the verdict judged
from it, signed).  Nothing here is trusted unverified.  It may import plan and envs."""
