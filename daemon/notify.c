/* SPDX-License-Identifier: MIT */
/*
 * notify.c: telling systemd what the service is doing (see notify.h).
 *
 * Under Type=notify (or notify-reload), systemd takes READY=1 as "started"
 * and RELOADING=1 ... READY=1 as a reload's bracket.  gunicorn itself says
 * READY=1 as soon as its master has bound the socket, before any worker
 * has imported the app; so the wrapper removes NOTIFY_SOCKET from its own
 * environment at start, and speaks for the service: READY=1 once the first
 * generation has shown its heartbeat, RELOADING=1 with MONOTONIC_USEC= at
 * a reload's start and READY=1 at its end (whatever the outcome: the old
 * generation still serves after a failure), STATUS= a one-line summary,
 * STOPPING=1 on stop, and EXTEND_TIMEOUT_USEC= while a slow first boot is
 * still within its warm-up budget.  Datagrams are best effort: a failure
 * is logged once and never affects gunicorn.  It sits below server.c
 * and reload.c and calls neither: what it cannot read from struct gw
 * (whether a reload runs) its caller passes in.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gunicorn.h"
#include "gw.h"
#include "log.h"
#include "notify.h"
#include "proc.h"

int
notify_init(struct gw *gw)
{
	const char	*path = getenv("NOTIFY_SOCKET");
	size_t		 len;

	gw->notify_fd = -1;
	if (path == NULL || *path == '\0')
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    len >= sizeof gw->notify_addr.sun_path) {
		fprintf(stderr, "gunicorn-wrapper: NOTIFY_SOCKET '%s': not a "
		    "Unix socket path\n", path);
		return -1;
	}
	memset(&gw->notify_addr, 0, sizeof gw->notify_addr);
	gw->notify_addr.sun_family = AF_UNIX;
	memcpy(gw->notify_addr.sun_path, path, len);
	if (path[0] == '@')
		gw->notify_addr.sun_path[0] = '\0';	/* abstract */
	gw->notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    len);
	if ((gw->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) ==
	    -1) {
		fprintf(stderr, "gunicorn-wrapper: socket for NOTIFY_SOCKET: "
		    "%s\n", strerror(errno));
		return -1;
	}
	if (unsetenv("NOTIFY_SOCKET") == -1) {
		fprintf(stderr, "gunicorn-wrapper: unsetenv: %s\n",
		    strerror(errno));
		return -1;
	}
	return 0;
}

void
notify_free(struct gw *gw)
{
	if (gw->notify_fd != -1)
		close(gw->notify_fd);
	gw->notify_fd = -1;
}

void
notify_send(struct gw *gw, const char *fmt, ...)
{
	char	buf[1024];
	va_list	ap;
	int	len;

	if (gw->notify_fd == -1)
		return;
	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if ((size_t)len >= sizeof buf)
		len = sizeof buf - 1;
	if (sendto(gw->notify_fd, buf, (size_t)len, MSG_NOSIGNAL,
	    (struct sockaddr *)&gw->notify_addr, gw->notify_len) == -1 &&
	    !gw->notify_warned) {
		log_warn("sd_notify to NOTIFY_SOCKET");
		gw->notify_warned = 1;
	}
}

/*
 * Only now, never at spawn: a first generation that never became ready
 * leaves systemd waiting until a reload brings one that does, or until
 * its start timeout.
 */
void
notify_ready(struct gw *gw, int reloading)
{
	if (gw->ready_sent)
		return;
	gw->ready_sent = 1;
	notify_send(gw, "READY=1\nMAINPID=%d", (int)getpid());
	notify_status(gw, reloading);
}

void
notify_status(struct gw *gw, int reloading)
{
	const struct reload_entry	*last;
	char				 lastbuf[160] = "";
	pid_t				*kids;
	size_t				 n = 0;

	if (gw->notify_fd == -1)
		return;
	if (gw->cur != NULL && proc_children(gw->cur->pid, &kids, &n) == 0)
		free(kids);
	if (gw->history.count > 0) {
		last = history_at(&gw->history, gw->history.count - 1);
		snprintf(lastbuf, sizeof lastbuf, ", last reload %u %s",
		    last->id, history_result_name(last->result));
	}
	notify_send(gw, "STATUS=%s: master %d, %zu workers%s",
	    gw->state == GW_RUNNING && reloading ? "reloading" :
	    gw_state_name(gw->state), gw->cur ? (int)gw->cur->pid : 0,
	    n, lastbuf);
}
