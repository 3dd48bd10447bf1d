/* SPDX-License-Identifier: MIT */
/*
 * preflight.c: `gunicorn --check-config` with the serving arguments
 * imports the app in a throw-away process.  A deploy that cannot even be
 * imported then fails in the time of one import, without a new master
 * ever being forked; the running generation is not touched at all.  The
 * price is one more import of the app per reload.
 *
 * reload.c decides when it runs and what its verdict does; this file only
 * runs it and says how it ended.  The output is kept because gunicorn
 * prints the exception last: that line is the reason an operator reads.
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "gunicorn.h"
#include "gw.h"
#include "log.h"
#include "preflight.h"

void
preflight_init(struct preflight *pf)
{
	memset(pf, 0, sizeof *pf);
	pf->fd = -1;
}

/* Read what the check wrote; keep the tail, where the exception is. */
static void
preflight_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct preflight	*pf = arg;
	char			 buf[4096];
	size_t			 keep, room = sizeof pf->out - 1;
	ssize_t			 n;

	(void)what;
	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if ((size_t)n >= room) {
			memcpy(pf->out, buf + (size_t)n - room, room);
			pf->len = room;
			continue;
		}
		if (pf->len + (size_t)n > room) {
			keep = room - (size_t)n;
			memmove(pf->out, pf->out + pf->len - keep, keep);
			pf->len = keep;
		}
		memcpy(pf->out + pf->len, buf, (size_t)n);
		pf->len += (size_t)n;
	}
	if (n == 0 && pf->ev != NULL)
		event_del(pf->ev);		/* EOF */
}

static void
preflight_close(struct preflight *pf)
{
	if (pf->ev != NULL) {
		event_free(pf->ev);
		pf->ev = NULL;
	}
	if (pf->fd != -1) {
		close(pf->fd);
		pf->fd = -1;
	}
	pf->pid = 0;
}

int
preflight_start(struct preflight *pf, struct gw *gw, char **argv,
    const char *cwd)
{
	int	fd;

	preflight_close(pf);
	pf->len = 0;
	if ((pf->pid = gunicorn_spawn_check(gw, argv, cwd, &fd)) == -1) {
		pf->pid = 0;
		return -1;
	}
	pf->fd = fd;
	pf->ev = event_new(gw->base, fd, EV_READ | EV_PERSIST,
	    preflight_read_cb, pf);
	if (pf->ev == NULL || event_add(pf->ev, NULL) == -1)
		fatalx("preflight: event_add failed");
	return 0;
}

int
preflight_is(const struct preflight *pf, pid_t pid)
{
	return pf->pid != 0 && pid == pf->pid;
}

/* The last non-empty line of the output, made printable. */
static void
preflight_last_line(struct preflight *pf, char *buf, size_t size)
{
	char	*end, *p;

	pf->out[pf->len] = '\0';
	end = pf->out + pf->len;
	while (end > pf->out && (end[-1] == '\n' || end[-1] == '\r' ||
	    end[-1] == ' '))
		*--end = '\0';
	p = strrchr(pf->out, '\n');
	p = p != NULL ? p + 1 : pf->out;
	snprintf(buf, size, "%.*s", (int)(size - 1), *p != '\0' ? p :
	    "no output");
	for (p = buf; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	}
}

int
preflight_reaped(struct preflight *pf, int status, char *why, size_t size)
{
	char	line[512];

	/* Whatever it wrote is in the pipe by now. */
	if (pf->fd != -1)
		preflight_read_cb(pf->fd, EV_READ, pf);
	preflight_close(pf);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status)) {
		snprintf(why, size, "killed by signal %d", WTERMSIG(status));
		return -1;
	}
	preflight_last_line(pf, line, sizeof line);
	snprintf(why, size, "exited %d: %s", WEXITSTATUS(status), line);
	return -1;
}

void
preflight_kill(struct preflight *pf)
{
	if (pf->pid != 0 && kill(pf->pid, SIGKILL) == -1 && errno != ESRCH)
		log_warn("kill %d", (int)pf->pid);
	preflight_close(pf);
}
