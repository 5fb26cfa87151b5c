"""The web app tests' fixtures: settings over temporary folders, a client, and a headless Chromium (the tiny
validation set and artifact are in the top conftest: the command-line tests use them too)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from selenium import webdriver

from tests.webapp.helpers import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, make_settings
from webapp.app import create_app
from webapp.settings import Settings


@pytest.fixture
def settings(tmp_path, eval_data) -> Settings:
    return make_settings(tmp_path, eval_data)


@pytest.fixture
def client(settings) -> TestClient:
    return TestClient(create_app(settings))


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()
