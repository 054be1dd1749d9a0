"""The aggregation strategies a federation may use and their defaults (plain names, no
Flower import: the desktop's form and the job's checks read them)."""

from __future__ import annotations

#: Flower's strategies Spanlab offers: FedAvg, FedProx (sites add a proximal term) and
#: FedAvgM (the server keeps a momentum of the averaged updates).
STRATEGIES = ("fedavg", "fedprox", "fedavgm")
#: FedProx's mu when the strategy is fedprox and the settings give none.
DEFAULT_MU = 0.01
#: FedAvgM's server momentum when the settings give none (Hsu et al., 2019).
DEFAULT_SERVER_MOMENTUM = 0.9
