from tests.bot_fixtures import *  # noqa: F403
