/* SPDX-License-Identifier: MIT */
/*
 * connector.c: the kernel's process connector, for workers' exit statuses.
 *
 * Why this file exists: a worker is gunicorn's child, not ours, and
 * gunicorn reaps it at once, so its wait status is gone before a look at
 * /proc could read it.  The connector (netlink, CN_IDX_PROC) reports
 * every process's exit with its wait status, before the parent is even
 * told.  It needs CAP_NET_ADMIN: as root only, and not in every
 * container.  ready.c, which judges the exits, reads it while a
 * generation warms up and through its probation.
 */
#include <sys/socket.h>

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "connector.h"
#include "log.h"

int
connector_open(void)
{
	struct sockaddr_nl	 sa;
	/* nlmsghdr, cn_msg (whose data[] ends it), then the operation. */
	char			 msg[NLMSG_LENGTH(sizeof(struct cn_msg) +
				    sizeof(enum proc_cn_mcast_op))]
	    __attribute__((aligned(__alignof__(struct nlmsghdr))));
	struct nlmsghdr		*nh = (struct nlmsghdr *)msg;
	struct cn_msg		*cn;
	enum proc_cn_mcast_op	 op = PROC_CN_MCAST_LISTEN;
	int			 fd, saved;

	if ((fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, NETLINK_CONNECTOR)) == -1)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = CN_IDX_PROC;
	sa.nl_pid = 0;		/* the kernel picks: several probes may run */
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1)
		goto fail;
	memset(msg, 0, sizeof msg);
	nh->nlmsg_len = sizeof msg;
	nh->nlmsg_type = NLMSG_DONE;
	cn = NLMSG_DATA(nh);
	cn->id.idx = CN_IDX_PROC;
	cn->id.val = CN_VAL_PROC;
	cn->len = sizeof op;
	memcpy(cn->data, &op, sizeof op);
	if (send(fd, msg, sizeof msg, 0) == -1)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

void
connector_drain(int fd, connector_exit_fn *fn, void *arg)
{
	char			 buf[8192]
	    __attribute__((aligned(__alignof__(struct nlmsghdr))));
	struct nlmsghdr		*nh;
	struct cn_msg		*cn;
	struct proc_event	 ev;
	ssize_t			 n;
	size_t			 len;

	for (;;) {
		n = recv(fd, buf, sizeof buf, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == ENOBUFS)
			continue;	/* overrun: some exits are lost */
		if (n <= 0)
			break;
		len = (size_t)n;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len);
		    nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_ERROR ||
			    nh->nlmsg_type == NLMSG_NOOP)
				continue;
			cn = NLMSG_DATA(nh);
			if (nh->nlmsg_len < NLMSG_LENGTH(sizeof *cn +
			    sizeof ev) || cn->len < sizeof ev)
				continue;
			/* Copied: the event is not 8-byte aligned there. */
			memcpy(&ev, cn->data, sizeof ev);
			if (ev.what != PROC_EVENT_EXIT ||
			    ev.event_data.exit.process_pid !=
			    ev.event_data.exit.process_tgid)
				continue;
			fn(ev.event_data.exit.process_pid,
			    ev.event_data.exit.parent_tgid,
			    (int)ev.event_data.exit.exit_code, arg);
		}
	}
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
		log_warn("process connector: recv");
}
