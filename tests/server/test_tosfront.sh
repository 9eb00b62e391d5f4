#!/bin/bash
# Checks the TOS front (tests/server/tosfront.js) against the known-answer
# vectors and the TOS dialect (see test_tosfront.py). Run under
# with-server.sh --tos; DATA_DIR is tests/data (the vectors, copied from the
# shared spec: nothing outside the repository is read).
#   test_tosfront.sh DATA_DIR
set -u
exec /usr/bin/python3 "$(dirname "$0")/test_tosfront.py" "$1"
