"""Logging from the training loops of frameworks, into a run.

Each module needs its framework and is imported only by the code that uses it
(this package imports none of them, and ``import runhistory.logger`` imports
nothing of this package):

- ``runhistory.logger.integrations.lightning``: ``RunHistoryLogger``, a
  Lightning logger (``Trainer(logger=RunHistoryLogger())``);
- ``runhistory.logger.integrations.transformers``: ``RunHistoryCallback``, a
  Hugging Face ``TrainerCallback`` (``Trainer(callbacks=[RunHistoryCallback()])``);
- ``runhistory.logger.integrations.keras``: ``RunHistoryCallback``, a Keras 3
  callback (``model.fit(..., callbacks=[RunHistoryCallback()])``).

They log into this process's run (``get_logger()``): the one the script or
``runhistory run`` started, or a new one started when training does; only
one process of a multi-process launch (rank zero) writes to it. What goes
wrong on the tracking side is said once through ``logging.getLogger("runhistory")``
and never stops training.
"""
