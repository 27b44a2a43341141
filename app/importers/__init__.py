"""``runhistory import``: runs of other trackers brought into a store (see ``runs`` for how).

One module a source (``from_mlflow``, ``from_tensorboard``, ``from_wandb``), each imported
by its command alone, with the foreign library it needs.
"""
