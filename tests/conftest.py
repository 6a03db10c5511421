from tests.bot_fixtures import *  # noqa: F403
from tests.index_fixtures import *  # noqa: F403
