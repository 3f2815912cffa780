"""The import's work in SQL, set-based: the file streamed into a staging table with COPY, validated and
normalized into a plan (one row per file row, with its action: create, update, skip or fail, and why), then
written in batches of row numbers, each batch one transaction that also moves the checkpoint, and undone the
same way by a revert.

Tables: `imports_<id>_staging` and `imports_<id>_plan`, UNLOGGED, in the organization's schema. They survive
a killed worker (a retried job resumes from the checkpoint with the same plan) and are dropped when the
import finishes; after a database crash (which empties unlogged tables) the plan is built again from the
stored file, leaving out the records the import already created, and writing resumes at the checkpoint.
"""

from tenant_apps.imports.pipeline.plan import Planning
from tenant_apps.imports.pipeline.revert import Reverting
from tenant_apps.imports.pipeline.write import Writing


class Pipeline(Planning, Writing, Reverting):
    """An import's whole work, one step per module: `build` (load.py and plan.py), `write_batch` (write.py),
    `revert_batch` (revert.py), `drop`."""
