from tests.bot_fixtures import *  # noqa: F403
from tests.index_fixtures import *  # noqa: F403
from tests.postgres_fixtures import *  # noqa: F403
from tests.serve_harness import library_bot  # noqa: F401 - a fixture shared by several modules
