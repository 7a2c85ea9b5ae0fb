#!/usr/bin/env bash
# The package is one wheel, committed as base64 text; the checksum in this file (which a
# reviewer sees change with the package) must match before anything is installed.
wheel_path="$RUNNER_TEMP/$WHEEL"
grep -v '^#' "$PACKAGE_DIR/$WHEEL.b64" | base64 --decode > "$wheel_path"
echo "$WHEEL_SHA256  $wheel_path" | sha256sum --check --strict
python -m pip install --disable-pip-version-check --require-hashes --no-deps -r "$PACKAGE_DIR/requirements.txt"
python -m pip install --disable-pip-version-check --no-deps --no-index "$wheel_path"
python -m pip check
