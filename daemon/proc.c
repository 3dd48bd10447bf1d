/* SPDX-License-Identifier: MIT */
/*
 * proc.c: reading gunicorn's process tree from /proc.
 *
 * The wrapper learns everything about a generation by looking, never by
 * asking gunicorn, and only from facts the kernel keeps and a process
 * title cannot fake: who a master's children are (the task children
 * files, Linux 3.5+), when a process started (to never signal a PID that
 * was reused), its owner, whether it exec'd since its fork (a forked
 * worker keeps its parent's argv address, an exec'd new master gets a
 * fresh one), and which listening sockets it holds (a new master inherits
 * its old master's, by inode).  A process's environment is read only as a
 * hint: gunicorn's reexec() sets GUNICORN_PID=<old master> there, and
 * setproctitle blanks it a moment after exec.
 */
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

pid_t *
proc_forked_children(pid_t pid, pid_t except, size_t *n)
{
	pid_t			*kids = NULL;
	size_t			 i, nk = 0;
	unsigned long long	 arg, karg;

	*n = 0;
	if (pid <= 0 || proc_children(pid, &kids, &nk) == -1)
		return NULL;
	arg = proc_arg_start(pid);
	for (i = 0; i < nk; i++) {
		if (kids[i] == except)
			continue;
		if (arg != 0 && (karg = proc_arg_start(kids[i])) != 0 &&
		    karg != arg)
			continue;
		/* A zombie shows no argv (0) and serves nothing: a failed new
		 * master its parent has not reaped yet, say. */
		if (proc_is_zombie(kids[i]))
			continue;
		kids[(*n)++] = kids[i];
	}
	return kids;
}

int
proc_env_reexec_of(pid_t pid, pid_t master)
{
	char	entry[32];

	snprintf(entry, sizeof entry, "GUNICORN_PID=%d", (int)master);
	return proc_env_has(pid, entry);
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

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int
proc_pidfd(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);	/* always O_CLOEXEC */
}

/* Linux 6.15's <linux/pidfd.h>, which Debian 12's headers predate: the
 * first version of the structure, the one that has exit_code. */
struct gw_pidfd_info {
	uint64_t	mask;
	uint64_t	cgroupid;
	uint32_t	pid, tgid, ppid, ruid, rgid, euid, egid;
	uint32_t	suid, sgid, fsuid, fsgid;
	int32_t		exit_code;
};
#define GW_PIDFD_GET_INFO	_IOWR(0xFF, 11, struct gw_pidfd_info)
#define GW_PIDFD_INFO_EXIT	(1ULL << 3)

int
proc_pidfd_exit_status(int pidfd)
{
	struct gw_pidfd_info	info;

	if (pidfd == -1)
		return -1;
	memset(&info, 0, sizeof info);
	info.mask = GW_PIDFD_INFO_EXIT;
	if (ioctl(pidfd, GW_PIDFD_GET_INFO, &info) == -1 ||
	    (info.mask & GW_PIDFD_INFO_EXIT) == 0)
		return -1;
	return info.exit_code;
}

int
proc_pidfd_exit_works(void)
{
	struct gw_pidfd_info	info;
	int			fd, ok;

	if ((fd = proc_pidfd(getpid())) == -1)
		return 0;
	memset(&info, 0, sizeof info);
	info.mask = GW_PIDFD_INFO_EXIT;
	/* A running process: no exit yet, but the kernel knows the ask. */
	ok = ioctl(fd, GW_PIDFD_GET_INFO, &info) == 0;
	close(fd);
	return ok;
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

/* Field n (3 = state) of /proc/pid/stat as a number; 0 on error. */
static unsigned long long
stat_field(pid_t pid, int n)
{
	char	buf[1024], *p;
	int	field;

	if ((p = stat_fields(pid, buf, sizeof buf)) == NULL)
		return 0;
	for (field = 3; field < n; field++) {
		if ((p = strchr(p, ' ')) == NULL)
			return 0;
		p++;
	}
	return strtoull(p, NULL, 10);
}

unsigned long long
proc_arg_start(pid_t pid)
{
	return stat_field(pid, 48);
}

int
proc_exiting(pid_t pid)
{
	/* vsize, field 23: 0 once exit_mm() has run (and when gone). */
	return proc_is_zombie(pid) || stat_field(pid, 23) == 0;
}

int
proc_is_zombie(pid_t pid)
{
	char	buf[1024], *p;

	if ((p = stat_fields(pid, buf, sizeof buf)) == NULL)
		return 1;	/* gone */
	return *p == 'Z' || *p == 'X' || *p == 'x';
}

uid_t
proc_uid(pid_t pid)
{
	char		path[64];
	struct stat	sb;

	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	if (stat(path, &sb) == -1)
		return (uid_t)-1;
	return sb.st_uid;
}

unsigned long long
proc_now_ticks(void)
{
	struct timespec	ts;
	long		hz = sysconf(_SC_CLK_TCK);

	if (hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &ts) == -1)
		return 0;
	return (unsigned long long)ts.tv_sec * (unsigned long long)hz +
	    (unsigned long long)ts.tv_nsec / (1000000000ULL /
	    (unsigned long long)hz);
}

int
proc_boot_id(char *buf, size_t size)
{
	char	tmp[64];
	size_t	n;

	if (read_file("/proc/sys/kernel/random/boot_id", tmp, sizeof tmp) ==
	    -1)
		return -1;
	n = strcspn(tmp, "\n");
	tmp[n] = '\0';
	if (n == 0 || n >= size)
		return -1;
	memcpy(buf, tmp, n + 1);
	return 0;
}

/*
 * Listening sockets, by inode, from one /proc/net table: TCP's state 0A
 * is LISTEN; a Unix socket listens when its flags have __SO_ACCEPTCON.
 */
static void
net_listening(const char *table, int unix_table, unsigned long long *set,
    size_t *n, size_t max)
{
	FILE			*f;
	char			 line[512], *p;
	unsigned long long	 ino;
	unsigned long		 flags;
	int			 i;

	if ((f = fopen(table, "re")) == NULL)
		return;
	if (fgets(line, sizeof line, f) == NULL) {	/* the header */
		fclose(f);
		return;
	}
	while (*n < max && fgets(line, sizeof line, f) != NULL) {
		p = line;
		if (unix_table) {
			/* Num RefCount Protocol Flags Type St Inode Path */
			if (sscanf(p, "%*s %*s %*s %lx %*s %*s %llu", &flags,
			    &ino) == 2 && (flags & 0x10000) != 0 && ino != 0)
				set[(*n)++] = ino;
			continue;
		}
		/* sl local rem st tx:rx tr:when retr uid timeout inode */
		for (i = 0; i < 3 && p != NULL; i++)
			p = strchr(p + strspn(p, " "), ' ');
		if (p == NULL || strncmp(p + strspn(p, " "), "0A ", 3) != 0)
			continue;
		if (sscanf(p, "%*s %*s %*s %*s %*s %*s %llu", &ino) == 1 &&
		    ino != 0)
			set[(*n)++] = ino;
	}
	fclose(f);
}

size_t
proc_listening_sockets(unsigned long long *set, size_t max)
{
	size_t	n = 0;

	net_listening("/proc/net/tcp", 0, set, &n, max);
	net_listening("/proc/net/tcp6", 0, set, &n, max);
	net_listening("/proc/net/unix", 1, set, &n, max);
	return n;
}

static int
in_set(unsigned long long v, const unsigned long long *set, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (set[i] == v)
			return 1;
	}
	return 0;
}

/* The socket inodes among pid's descriptors; how many, or -1. */
static int
proc_socket_inodes(pid_t pid, unsigned long long *out, size_t max)
{
	char		 path[320], link[64];
	DIR		*d;
	struct dirent	*de;
	ssize_t		 len;
	size_t		 n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while (n < max && (de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof path, "/proc/%d/fd/%s", (int)pid,
		    de->d_name);
		if ((len = readlink(path, link, sizeof link - 1)) <= 0)
			continue;
		link[len] = '\0';
		if (strncmp(link, "socket:[", 8) == 0)
			out[n++] = strtoull(link + 8, NULL, 10);
	}
	closedir(d);
	return (int)n;
}

size_t
proc_listeners(pid_t pid, unsigned long long *out, size_t max)
{
	unsigned long long	*all, *mine;
	size_t			 nall, i, n = 0;
	int			 nmine;

	all = xcalloc(PROC_SOCKETS_MAX, sizeof *all);
	mine = xcalloc(PROC_SOCKETS_MAX, sizeof *mine);
	nall = proc_listening_sockets(all, PROC_SOCKETS_MAX);
	if ((nmine = proc_socket_inodes(pid, mine, PROC_SOCKETS_MAX)) > 0) {
		for (i = 0; i < (size_t)nmine && n < max; i++) {
			if (in_set(mine[i], all, nall) &&
			    !in_set(mine[i], out, n))
				out[n++] = mine[i];
		}
	}
	free(all);
	free(mine);
	return n;
}

int
proc_holds_any(pid_t pid, const unsigned long long *set, size_t n)
{
	unsigned long long	*mine;
	int			 nmine, i, found = 0;

	if (n == 0)
		return 0;
	mine = xcalloc(PROC_SOCKETS_MAX, sizeof *mine);
	nmine = proc_socket_inodes(pid, mine, PROC_SOCKETS_MAX);
	for (i = 0; i < nmine && !found; i++)
		found = in_set(mine[i], set, n);
	free(mine);
	return found;
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
