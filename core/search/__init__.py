"""Hyper-parameter search: Optuna studies whose trials are ordinary training runs.

- ``space``: which TrainConfig settings vary (defaults by data size, or a JSON file);
- ``storage``: where a study lives (SQLite beside the project, a journal file on a shared
  disk, a database server), so that processes on several machines share one study;
- ``study``: :class:`~core.search.study.Search` (ask / report / tell) and
  :func:`~core.search.study.run_search`, the loop the CLI runs;
- ``events``: what that loop reports besides each run's training events.
"""
