#!/bin/sh
# pgseal: runs the pgseal CLI on the Node.js runtime bundled in /usr/lib/pgseal/runtime,
# trusting the system CA store (/etc/ssl/certs) as well as Node's own list when upstream.ca is unset.
exec /usr/lib/pgseal/runtime/bin/node --use-system-ca /usr/lib/pgseal/app/dist/src/cli/main.js "$@"
