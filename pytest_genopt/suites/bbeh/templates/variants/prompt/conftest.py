"""The task model every test asks: see docs/suites/bbeh.md of pytest-genopt."""

from __future__ import annotations

import pytest

from pytest_genopt.taskmodel import TaskModel


@pytest.fixture(scope="session")
def task_model(pytestconfig: pytest.Config) -> TaskModel:
    return TaskModel.configured(
        pytestconfig.rootpath,
        str(pytestconfig.getini("genopt_task_model")),
        str(pytestconfig.getini("genopt_task_model_cache")),
    )
