/*
 * proc.c: reading gunicorn's process tree from /proc.
 *
 * The wrapper learns everything about a generation by looking, never by
 * asking gunicorn: who a master's children are (the task children files,
 * Linux 3.5+), whether a fresh child is the new master of a reload (its
 * environment carries GUNICORN_PID=<old master>, set by gunicorn's
 * reexec() just before execve), and when a process started (to never
 * signal a PID that was reused).
 */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"
#include "proc.h"
#include "rundir.h"
#include "xmalloc.h"

/* read(2), retried on EINTR; on error the descriptor is closed, errno kept. */
static ssize_t
read_or_close(int fd, char *buf, size_t size)
{
	ssize_t	n;
	int	saved;

	do
		n = read(fd, buf, size);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		saved = errno;
		close(fd);
		errno = saved;
	}
	return n;
}

/* Read a whole small /proc file into buf (NUL-terminated); bytes or -1. */
static ssize_t
read_file(const char *path, char *buf, size_t size)
{
	ssize_t	n, total = 0;
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((size_t)total < size - 1) {
		if ((n = read_or_close(fd, buf + total,
		    size - 1 - (size_t)total)) == -1)
			return -1;
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

int
proc_children(pid_t pid, pid_t **out, size_t *count)
{
	char		 path[320], buf[8192], *p, *end;
	DIR		*d;
	struct dirent	*de;
	pid_t		*list = NULL;
	size_t		 n = 0, cap = 0;
	long		 v;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%s/children",
		    (int)pid, de->d_name);
		if (read_file(path, buf, sizeof buf) == -1)
			continue;	/* thread gone meanwhile */
		for (p = buf; *p != '\0'; p = end) {
			v = strtol(p, &end, 10);
			if (end == p)
				break;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				list = xreallocarray(list, cap, sizeof *list);
			}
			list[n++] = (pid_t)v;
		}
	}
	closedir(d);
	*out = list;
	*count = n;
	return 0;
}

/*
 * The environment can be far larger than any fixed buffer, and gunicorn
 * appends GUNICORN_PID last: read it in chunks, matching each entry as it
 * completes.  An entry longer than ours is skipped without being stored.
 */
int
proc_env_has(pid_t pid, const char *entry)
{
	char	 path[64], buf[8192], cur[128];
	size_t	 len = strlen(entry), have = 0;
	ssize_t	 n, i;
	int	 fd, found = 0, toolong = 0;

	if (len >= sizeof cur)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (!found) {
		if ((n = read_or_close(fd, buf, sizeof buf)) == -1)
			return -1;
		if (n == 0)
			break;
		for (i = 0; i < n && !found; i++) {
			if (buf[i] == '\0') {
				found = !toolong && have == len &&
				    memcmp(cur, entry, len) == 0;
				have = 0;
				toolong = 0;
			} else if (have < len)
				cur[have++] = buf[i];
			else
				toolong = 1;
		}
	}
	close(fd);
	return found;
}

int
proc_find_env(const char *entry, pid_t *out)
{
	DIR		*d;
	struct dirent	*de;
	pid_t		 pid;
	char		*end;

	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		pid = (pid_t)strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 1 || pid == getpid())
			continue;
		if (proc_env_has(pid, entry) == 1 && proc_is_gunicorn(pid)) {
			*out = pid;
			closedir(d);
			return 1;
		}
	}
	closedir(d);
	return 0;
}

int
proc_exists(pid_t pid)
{
	char		path[64];
	struct stat	sb;

	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	return stat(path, &sb) == 0;
}

/* Fields of /proc/PID/stat after the command, which may hold spaces. */
static char *
stat_fields(pid_t pid, char *buf, size_t size)
{
	char	path[64], *p;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (read_file(path, buf, size) == -1)
		return NULL;
	if ((p = strrchr(buf, ')')) == NULL)
		return NULL;
	return p + 2;	/* at field 3, the state */
}

unsigned long long
proc_starttime(pid_t pid)
{
	char			 buf[1024], *p;
	int			 field;

	if ((p = stat_fields(pid, buf, sizeof buf)) == NULL)
		return 0;
	/* starttime is field 22; p is at field 3. */
	for (field = 3; field < 22; field++) {
		if ((p = strchr(p, ' ')) == NULL)
			return 0;
		p++;
	}
	return strtoull(p, NULL, 10);
}

pid_t
proc_ppid(pid_t pid)
{
	char	buf[1024], *p;

	if ((p = stat_fields(pid, buf, sizeof buf)) == NULL)
		return -1;
	if ((p = strchr(p, ' ')) == NULL)
		return -1;
	return (pid_t)strtol(p + 1, NULL, 10);
}

int
proc_is_gunicorn(pid_t pid)
{
	char	 path[64], buf[4096], *p, *base, *end;
	ssize_t	 n;

	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	if ((n = read_file(path, buf, sizeof buf)) <= 0)
		return 0;
	/*
	 * "python3 /usr/bin/gunicorn ...", "gunicorn: master [app]" with
	 * setproctitle, or a venv's ".../bin/gunicorn": look at the first
	 * two words for a name starting with "gunicorn".
	 */
	end = buf + n;
	for (p = buf; p < end && p < buf + n; p += strlen(p) + 1) {
		base = strrchr(p, '/');
		base = base != NULL ? base + 1 : p;
		if (strncmp(base, "gunicorn", 8) == 0)
			return 1;
		if (p != buf)
			break;
	}
	return 0;
}

pid_t
pidfile_read(const char *path, const char **errstr)
{
	char	buf[64], why[256];
	pid_t	pid;
	ssize_t	n, total = 0;
	int	fd;

	*errstr = NULL;
	/* Never through a symlink, never blocked on a FIFO (rundir.h). */
	if ((fd = rundir_open(AT_FDCWD, path, O_RDONLY, 0, why,
	    sizeof why)) == -1) {
		*errstr = errno == EPERM || errno == ELOOP ? "not a regular "
		    "file of ours (a symlink, FIFO, device or another user's "
		    "file): refused" : strerror(errno);
		return -1;
	}
	while ((size_t)total < sizeof buf - 1) {
		if ((n = read_or_close(fd, buf + total,
		    sizeof buf - 1 - (size_t)total)) == -1) {
			*errstr = strerror(errno);
			return -1;
		}
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	if (parse_pid(buf, &pid, errstr) == -1)
		return -1;
	return pid;
}
