"""Active learning: which document is most worth annotating next.

``acquisition`` holds the acquisition functions (pure, on tensors), ``scoring`` turns a
model folder into one usefulness per document (higher = annotate first). Importing this
package loads neither torch nor a model: the desktop reads the strategies at start-up.
"""

from core.active.scoring import DEFAULT_STRATEGY, STRATEGIES, ScoringCancelled

__all__ = ["DEFAULT_STRATEGY", "STRATEGIES", "ScoringCancelled"]
