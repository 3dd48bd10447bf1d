# contrib/consul-template/app.hcl: consul-template renders a file the
# application reads at import, then reloads gunicorn through
# gunicorn-wrapper with zero downtime.  Copy to /etc/consul-template.d/ on
# every host that runs the application as a gunicorn-wrapper named "app".
#
# The command waits for the reload's outcome and exits non-zero if it
# failed (the new generation did not load or did not become ready in time;
# the old one still serves, untouched).  consul-template logs that exit
# status as an error: see README.md beside this file.

template {
  source      = "/etc/consul-template.d/version.txt.ctmpl"
  destination = "/srv/app/version.txt"
  perms       = 0644
  # Keep the previous rendering as version.txt.bak: the file that the
  # running generation loaded, should the new one fail.
  backup      = true
  # Fail the render, rather than write "<no value>", when a key is missing.
  error_on_missing_key = true

  # Run without a shell, split on spaces.  As root, gwctl finds the socket
  # in /run/gunicorn-wrapper; as another user, add
  # "-s /run/gunicorn-wrapper/app.sock" and give that user the wrapper's
  # GW_SOCKET_GROUP.
  command = "/usr/bin/gwctl reload app"
  # A reload takes up to GW_WARMUP (twice with GW_PREFLIGHT=1) plus the old
  # generation's drain (up to GW_STOP_TIMEOUT): past command_timeout,
  # consul-template kills gwctl and counts a failure, although the reload
  # carries on.  The default, 30 s, is too short.
  command_timeout = "180s"

  # Let a burst of changes settle into one render, hence one reload.
  wait {
    min = "5s"
    max = "30s"
  }
}
