"""Fixtures shared across the test files."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    """Run torch on one thread in tests.

    The models in tests are tiny; on a small shared machine two OpenMP threads spin
    against each other (and against other processes) and make each step 10-20x slower.
    """
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with a fast tokenizer, built from a config (no download)."""
    from training_support import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_trained_model(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder trained (3 epochs, a few seconds) on PER/LOC sentences."""
    from core.training.config import TrainConfig
    from core.training.trainer import train

    from training_support import sentence_corpus

    out = tmp_path_factory.mktemp("tiny-trained") / "run-1"
    config = TrainConfig(
        base_model=str(tiny_model_dir), epochs=3, learning_rate=5e-3, batch_size=8, warmup=0
    )
    data = {"train": sentence_corpus(120), "dev": sentence_corpus(30, seed=1, start_id=500)}
    final = list(train(config, data, out))[-1]
    assert final.kind == "done", final
    return out


# -- desktop: annotate / documents / labels / import (owner: annotation desktop) -------------


@pytest.fixture
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """QSettings and the app's data folder inside the test's temporary folder."""
    from PySide6.QtCore import QCoreApplication, QSettings, QStandardPaths

    QCoreApplication.setOrganizationName("SpanlabTests")
    QCoreApplication.setApplicationName("SpanlabTests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "ini"))
    data = tmp_path / "appdata"
    monkeypatch.setattr(
        QStandardPaths, "writableLocation", staticmethod(lambda _location: str(data))
    )
    QSettings().clear()
    yield tmp_path
    QSettings().clear()
