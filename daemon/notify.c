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
 * STOPPING=1 on stop, EXTEND_TIMEOUT_USEC= while a slow first boot is
 * still within its warm-up budget, and WATCHDOG=1 from a timer of the
 * event loop when WatchdogSec= is on, so that a stalled loop misses it.
 * STATUS= is sent only when its text changes, so the server may offer it
 * every second without flooding the journal.  Datagrams are best effort:
 * a failure is logged once and never affects gunicorn.  It sits below
 * server.c and reload.c and calls neither: what STATUS= says (roles,
 * worker counts) reload.c gathers and passes in.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "gw.h"
#include "log.h"
#include "notify.h"
#include "parse.h"

static void	watchdog_init(struct gw *);

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
		log_startup_error("NOTIFY_SOCKET '%s': not a "
		    "Unix socket path", path);
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
		log_startup_error("socket for NOTIFY_SOCKET: "
		    "%s", strerror(errno));
		return -1;
	}
	if (unsetenv("NOTIFY_SOCKET") == -1) {
		log_startup_error("unsetenv: %s",
		    strerror(errno));
		return -1;
	}
	watchdog_init(gw);
	return 0;
}

/*
 * systemd sets WATCHDOG_USEC (and WATCHDOG_PID, the main PID) for a unit
 * with WatchdogSec=.  One meant for another process leaves the watchdog
 * off, quietly; one that is not a number, with a warning: the service
 * still runs, and when systemd kills it for want of a ping, the line says
 * why.
 */
static void
watchdog_init(struct gw *gw)
{
	const char		*usec = getenv("WATCHDOG_USEC");
	const char		*pid = getenv("WATCHDOG_PID");
	const char		*errstr;
	char			*end;
	unsigned long long	 v;
	pid_t			 p;
	int			 ours;

	gw->watchdog_usec = 0;
	if (usec == NULL || *usec == '\0')
		return;
	ours = pid == NULL || *pid == '\0';
	if (!ours && parse_pid(pid, &p, &errstr) == -1)
		log_warnx("WATCHDOG_PID '%s': %s; no watchdog pings", pid,
		    errstr);
	else if (!ours)
		ours = p == getpid();	/* else for another process */
	if (ours) {
		errno = 0;
		v = strtoull(usec, &end, 10);
		/* At most a day; the period is half of it, at least 1 ms. */
		if (!isdigit((unsigned char)usec[0]) || *end != '\0' ||
		    errno != 0 || v == 0 || v > 86400ULL * 1000000)
			log_warnx("WATCHDOG_USEC '%s': not a number of "
			    "microseconds (1 to 86400000000); no watchdog "
			    "pings", usec);
		else
			gw->watchdog_usec = v;
	}
	/* Never gunicorn's, which would take them for its own. */
	if (unsetenv("WATCHDOG_USEC") == -1 || unsetenv("WATCHDOG_PID") == -1)
		log_warn("unsetenv WATCHDOG_USEC");
}

static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw	*gw = arg;

	(void)fd;
	(void)what;
	notify_send(gw, "WATCHDOG=1");
}

void
notify_start(struct gw *gw)
{
	struct timeval	tv;
	unsigned long long half;

	if (gw->notify_fd == -1 || gw->watchdog_usec == 0)
		return;
	half = gw->watchdog_usec / 2;
	if (half < 1000)
		half = 1000;	/* not a loop that spins */
	tv.tv_sec = (time_t)(half / 1000000);
	tv.tv_usec = (suseconds_t)(half % 1000000);
	if ((gw->watchdog_ev = event_new(gw->base, -1, EV_PERSIST,
	    watchdog_cb, gw)) == NULL || event_add(gw->watchdog_ev, &tv) == -1)
		fatalx("watchdog: event_add failed");
	log_info("systemd watchdog: WATCHDOG=1 every %g s",
	    (double)half / 1e6);
	notify_send(gw, "WATCHDOG=1");
}

void
notify_free(struct gw *gw)
{
	if (gw->watchdog_ev != NULL)
		event_free(gw->watchdog_ev);
	gw->watchdog_ev = NULL;
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
notify_ready(struct gw *gw)
{
	if (gw->ready_sent)
		return;
	gw->ready_sent = 1;
	notify_send(gw, "READY=1\nMAINPID=%d", (int)getpid());
}

void
notify_status(struct gw *gw, const struct notify_summary *s)
{
	char	line[sizeof gw->notify_last], reload[64] = "", last[64] = "";

	if (gw->notify_fd == -1)
		return;
	if (s->reload_id != 0)
		(void)snprintf(reload, sizeof reload, " reload %u %s,",
		    s->reload_id, s->phase != NULL ? s->phase : "");
	if (s->last_id != 0)
		(void)snprintf(last, sizeof last, ", last reload %u %s",
		    s->last_id, s->last_result);
	if (s->master == 0)
		(void)snprintf(line, sizeof line, "%s:%s no master%s",
		    s->state, reload, last);
	else
		(void)snprintf(line, sizeof line, "%s:%s master %d, %zu "
		    "worker%s%s", s->state, reload, (int)s->master,
		    s->workers, s->workers == 1 ? "" : "s", last);
	if (strcmp(line, gw->notify_last) == 0)
		return;
	memcpy(gw->notify_last, line, sizeof line);
	notify_send(gw, "STATUS=%s", line);
}
