"""Shared fixtures. Tests read ../shared (golden data, photos) in place and skip only where it is absent;
with INDEXNET_REQUIRE_SHARED=1 (CI) they fail instead, so a missing folder cannot pass as a green run. Likewise the
subject model of the one-click cut-out (`python -m indexnet fetch-subject-model`; INDEXNET_REQUIRE_SUBJECT_MODEL=1)."""
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "golden"

torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a minute or more (subprocess training runs); "
                                       "deselect with -m 'not slow' while iterating, CI runs them")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        reason = f"{SHARED} (golden data and photos) is not present next to the repository"
        if os.environ.get("INDEXNET_REQUIRE_SHARED") == "1":
            pytest.fail(f"{reason}; INDEXNET_REQUIRE_SHARED=1 requires it", pytrace=False)
        pytest.skip(reason)
    return SHARED


@pytest.fixture(scope="session")
def golden_dir(shared_dir) -> Path:
    return shared_dir / "golden"


@pytest.fixture(scope="session")
def authors_model(golden_dir):
    from indexnet import load_model
    return load_model(golden_dir / "authors_random_checkpoint.pth.tar")


@pytest.fixture(scope="session")
def mmagic_model(golden_dir):
    from indexnet import load_model
    return load_model(golden_dir / "mmagic_random_checkpoint_wellcond.pth")


@pytest.fixture(scope="session")
def subject_model():
    """The default subject model's session (u2netp), set up by `python -m indexnet fetch-subject-model`."""
    from indexnet.subject import DEFAULT_SUBJECT_MODEL, load_subject_model, model_path
    path = model_path(DEFAULT_SUBJECT_MODEL)
    if not path.is_file():
        reason = f"the subject model is not set up ({path}); run: python -m indexnet fetch-subject-model"
        if os.environ.get("INDEXNET_REQUIRE_SUBJECT_MODEL") == "1":
            pytest.fail(f"{reason}; INDEXNET_REQUIRE_SUBJECT_MODEL=1 requires it", pytrace=False)
        pytest.skip(reason)
    return load_subject_model()
