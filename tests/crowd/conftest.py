from tests.crowd.fixtures import *  # noqa: F403 (fixtures shared with tests/annotation)
