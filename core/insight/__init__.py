"""Insight into a project: likely annotation mistakes, and what changed between two runs.

- ``review``: cross-validated predictions over the annotated documents (k folds, each
  document predicted by a model that never saw it, trained with the normal training
  code in a scratch folder) turned into a ranked list of likely annotation mistakes;
- ``suspects``: the pure part of a review: the kinds of suspect (wrong type, missed
  span, spurious model entity, boundary disagreement), their margins and their order;
- ``tag_probabilities``: every word's probability of every tag under a model;
- ``compare``: two runs evaluated on the same split, side by side.
"""
