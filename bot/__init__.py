"""citebot's applications: the `citebot` command line and the Telegram bot, over `index/`."""
