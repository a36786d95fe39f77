#!/bin/sh
# pgseal: runs the pgseal CLI on the Node.js runtime bundled in /usr/lib/pgseal/runtime.
exec /usr/lib/pgseal/runtime/bin/node /usr/lib/pgseal/app/dist/src/cli/main.js "$@"
