"""Federated fine-tuning: several sites train one model without sharing their annotations.

Built on Flower (pinned: :data:`FLOWER_VERSION`), whose deployment runtime carries every
message: the server is a Flower SuperLink running Spanlab's ``ServerApp``, each site a
Flower SuperNode running Spanlab's ``ClientApp`` on its own project. Only model weights
and numeric metrics leave a site; the aggregation is Flower's FedAvg (or FedProx),
weighted by each site's number of training sentences.

- ``labels``: the label check every site passes before round 1.
- ``arrays``: a model's weights as Flower arrays, and the shape check of a reply.
- ``strategy``: Flower's FedAvg / FedProx with the checks a round needs (wrong shapes
  rejected, dropped sites logged, at least ``min_sites`` answers).
- ``site`` / ``server``: the work of a site (a round of local training with the
  project's normal trainer) and of the server (the global model, its evaluation, the
  best round, the model folder).
- ``apps``: the Flower ``ServerApp`` and ``ClientApp``.
- ``runtime``: Flower's processes (SuperLink, SuperNode, ``flwr run``) on this machine.
- ``events`` / ``record``: what a federation reports, and the server's run in its project.
"""

from __future__ import annotations

#: The Flower release this code is written against: its API changes often.
FLOWER_VERSION = "1.42.0"
