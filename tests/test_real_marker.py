"""The `real` marker is enforced (tests/conftest.py): a test without it that finds the real offline models fails."""

from pathlib import Path

import pytest

import peft_t2l.defaults
from peft_t2l.defaults import DEFAULT_BASE_MODEL, DEFAULT_ENCODER, offline_encoder_path, resolve

pytest_plugins = ["pytester"]

MESSAGE = "this test loads the real offline models (SmolLM2 / MiniLM): mark it @pytest.mark.real"


def test_an_unmarked_test_cannot_find_the_real_models():
    for name in (DEFAULT_BASE_MODEL, DEFAULT_ENCODER):
        with pytest.raises(pytest.fail.Exception, match="mark it @pytest.mark.real"):
            resolve(name)
    with pytest.raises(pytest.fail.Exception, match="mark it @pytest.mark.real"):
        offline_encoder_path()  # imported by name into this module before the test ran: still refused
    with pytest.raises(pytest.fail.Exception, match="mark it @pytest.mark.real"):
        peft_t2l.defaults.offline_base_model_path(convert=False)
    assert resolve("some/other-model") == "some/other-model"  # other ids never look for the offline models


@pytest.mark.real
def test_a_marked_test_can():
    assert resolve(DEFAULT_ENCODER) == str(offline_encoder_path() or DEFAULT_ENCODER)


def test_enforcement_in_a_fresh_session(pytester):
    """Unmarked tests fail whether they find the models themselves, in a fixture, or through a cached module fixture."""
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    real: uses the real offline models\n")
    pytester.makepyfile(
        test_generated="""
        import pytest
        from peft_t2l.defaults import DEFAULT_BASE_MODEL, DEFAULT_ENCODER, resolve

        @pytest.fixture(scope="module")
        def encoder_path():
            return resolve(DEFAULT_ENCODER)

        @pytest.fixture
        def base_path():
            return resolve(DEFAULT_BASE_MODEL)

        @pytest.mark.real
        def test_marked(encoder_path):
            assert encoder_path

        def test_unmarked_reuses_the_module_fixture(encoder_path):
            assert encoder_path

        def test_unmarked_fixture(base_path):
            assert base_path

        def test_unmarked_body():
            resolve(DEFAULT_BASE_MODEL)

        def test_unmarked_other_model():
            assert resolve("some/other-model") == "some/other-model"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=2, failed=2, errors=1)
    result.stdout.fnmatch_lines(  # in order: the setup error, then the two failures, each with the whole message
        [
            f"test_generated.py::test_unmarked_fixture: {MESSAGE}",
            f"test_generated.py::test_unmarked_reuses_the_module_fixture (fixture 'encoder_path'): {MESSAGE}",
            f"test_generated.py::test_unmarked_body: {MESSAGE}",
            "PASSED test_generated.py::test_marked",
            "PASSED test_generated.py::test_unmarked_other_model",
        ]
    )
