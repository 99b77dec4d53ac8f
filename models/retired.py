"""Indexes earlier versions declared and no query uses any more.

Beanie creates the indexes a document declares but never drops one it stopped declaring, and
each index left behind still costs every write to its collection. The service drops these when
it binds the database (`service.database.drop_retired_indexes`).
"""

# Collection name -> index names.
RETIRED_INDEXES: dict[str, tuple[str, ...]] = {
    # A batch's tasks are read by `_id`, which already holds (workspace, batch, endpoint); a
    # session's and a run's by one index of (workspace, session, run, endpoint).
    "prompt_tasks": ("workspace_batch_endpoint", "workspace_session", "workspace_run_endpoint"),
}
