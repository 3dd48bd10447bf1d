/* SPDX-License-Identifier: MIT */
/*
 * ledger.c: the wrapper's record in the run directory (see ledger.h).
 *
 * A wrapper killed with SIGKILL leaves gunicorn running; the next one must
 * tell its own app's master from anything a pidfile may name: another
 * app's master, another user's process, `tail -f gunicorn.log`.  Names
 * cannot tell (setproctitle rewrites them), so the wrapper writes down the
 * facts the kernel will confirm later: the master's PID with its start
 * time (unique within one boot), the boot id, our uid, and the inodes of
 * the listening sockets the master holds, which every later generation
 * inherits.  It is rewritten at every change (a start, an adoption, each
 * reload phase), atomically: a new file renamed over the old one, so a
 * reader sees the old record or the new one, never half of each.
 *
 * The format is a few lines of "key values", bounded (LEDGER_FILE_MAX).
 * The file is opened through rundir_open() (O_NOFOLLOW | O_NONBLOCK): it
 * must be a regular file of ours with one link; a symlink or a FIFO planted
 * there is an error, not a hang.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"
#include "ledger.h"
#include "proc.h"
#include "rundir.h"

int
ledger_read(const char *path, struct ledger *l, char *err, size_t errlen)
{
	char		 buf[LEDGER_FILE_MAX + 1], *line, *next, *end;
	char		 key[16];
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd, off;
	long long	 pid;
	unsigned long long ino;

	memset(l, 0, sizeof *l);
	err[0] = '\0';
	if ((fd = rundir_open(AT_FDCWD, path, O_RDONLY, 0, err, errlen)) == -1) {
		if (errno == ENOENT)
			return 0;
		if (err[0] == '\0')
			errbuf_set(err, errlen,
			    "%s: %s", path, strerror(errno));
		return -1;
	}
	while (len < sizeof buf - 1) {
		n = read(fd, buf + len, sizeof buf - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			errbuf_set(err, errlen,
			    "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > LEDGER_FILE_MAX)
		return errbuf_set(err, errlen, "%s: longer than %d bytes", path,
		    LEDGER_FILE_MAX);
	buf[len] = '\0';
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (sscanf(line, "%15s%n", key, &off) != 1)
			continue;
		line += off;
		if (strcmp(key, "boot") == 0)
			sscanf(line, " %39s", l->boot);
		else if (strcmp(key, "uid") == 0) {
			pid = strtoll(line, NULL, 10);
			l->uid = (uid_t)pid;
		} else if (strcmp(key, "master") == 0 &&
		    sscanf(line, " %lld %llu", &pid, &l->master_start) == 2)
			l->master = (pid_t)pid;
		else if (strcmp(key, "old") == 0 &&
		    sscanf(line, " %lld %llu", &pid, &l->old_start) == 2)
			l->old = (pid_t)pid;
		else if (strcmp(key, "new") == 0 &&
		    sscanf(line, " %lld %llu", &pid, &l->new_start) == 2)
			l->new = (pid_t)pid;
		else if (strcmp(key, "reload") == 0)
			sscanf(line, " %u %15s %llu", &l->reload_id, l->phase,
			    &l->usr2_tick);
		else if (strcmp(key, "release") == 0 && *line == ' ')
			snprintf(l->release, sizeof l->release, "%s",
			    line + 1);
		else if (strcmp(key, "target") == 0 && *line == ' ')
			snprintf(l->target, sizeof l->target, "%s", line + 1);
		else if (strcmp(key, "listeners") == 0) {
			for (;;) {
				ino = strtoull(line, &end, 10);
				if (end == line ||
				    l->nlisteners == LEDGER_LISTENERS_MAX)
					break;
				l->listeners[l->nlisteners++] = ino;
				line = end;
			}
		}
	}
	if (l->master < 0 || l->old < 0 || l->new < 0)
		return errbuf_set(err, errlen, "%s: negative PID", path);
	return 1;
}

int
ledger_write(const char *path, const struct ledger *l, char *err,
    size_t errlen)
{
	char	 buf[LEDGER_FILE_MAX], tmp[4200];
	size_t	 len, i;
	ssize_t	 n;
	int	 fd, w;

	len = (size_t)snprintf(buf, sizeof buf, "boot %s\nuid %u\n"
	    "master %d %llu\nlisteners", l->boot[0] ? l->boot : "-",
	    (unsigned)l->uid, (int)l->master, l->master_start);
	for (i = 0; i < l->nlisteners && len < sizeof buf; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, " %llu",
		    l->listeners[i]);
	if (len < sizeof buf && l->reload_id != 0)
		len += (size_t)snprintf(buf + len, sizeof buf - len,
		    "\nreload %u %s %llu\nold %d %llu\nnew %d %llu",
		    l->reload_id, l->phase[0] ? l->phase : "-", l->usr2_tick,
		    (int)l->old, l->old_start, (int)l->new, l->new_start);
	if (len < sizeof buf && l->release[0] != '\0')
		len += (size_t)snprintf(buf + len, sizeof buf - len,
		    "\nrelease %s", l->release);
	if (len < sizeof buf && l->target[0] != '\0')
		len += (size_t)snprintf(buf + len, sizeof buf - len,
		    "\ntarget %s", l->target);
	if (len + 1 >= sizeof buf)
		return errbuf_set(err, errlen, "%s: record too long", path);
	buf[len++] = '\n';

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (unlink(tmp) == -1 && errno != ENOENT)
		return errbuf_set(err, errlen, "unlink %s: %s", tmp,
		    strerror(errno));
	if ((fd = rundir_open(AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600,
	    err, errlen)) == -1) {
		if (err[0] == '\0')
			errbuf_set(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	for (i = 0; i < len; i += (size_t)n) {
		if ((n = write(fd, buf + i, len - i)) == -1) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			w = errno;
			close(fd);
			(void)unlink(tmp);
			errno = w;
			return errbuf_set(err, errlen, "write %s: %s", tmp,
			    strerror(errno));
		}
	}
	/*
	 * No fsync: the record only matters to a wrapper of this same boot
	 * (another boot's is ignored), and the page cache outlives us; the
	 * rename alone keeps readers from seeing half a record.  A sync per
	 * reload phase would stall the event loop when it matters most.
	 */
	if (close(fd) == -1) {
		(void)unlink(tmp);
		return errbuf_set(err, errlen, "close %s: %s", tmp,
		    strerror(errno));
	}
	if (rename(tmp, path) == -1) {
		w = errno;
		(void)unlink(tmp);
		errno = w;
		return errbuf_set(err, errlen, "rename %s: %s", tmp,
		    strerror(errno));
	}
	return 0;
}

int
ledger_remove(const char *path)
{
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

int
ledger_current(const struct ledger *l)
{
	char	boot[40];

	return l->master > 0 && l->uid == geteuid() &&
	    proc_boot_id(boot, sizeof boot) == 0 &&
	    strcmp(boot, l->boot) == 0;
}

int
ledger_listeners_open(const struct ledger *l, const unsigned long long *set,
    size_t n)
{
	size_t	i, j;

	for (i = 0; i < l->nlisteners; i++) {
		for (j = 0; j < n; j++) {
			if (set[j] == l->listeners[i])
				return 1;
		}
	}
	return 0;
}
