#!/usr/bin/env bash
# The main command: set up, index the shipped articles, and start the bot. With
# TELEGRAM_BOT_TOKEN set it serves Telegram; without it, a terminal chat shows the same replies.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/citebot serve "$@"
