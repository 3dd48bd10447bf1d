/* SPDX-License-Identifier: MIT */
/*
 * connector.h: the kernel's process connector (netlink, CN_IDX_PROC):
 * every process's exit with its wait status, as it happens and before its
 * parent is told.  Root only (CAP_NET_ADMIN); see ready.c for what a
 * wrapper that is not root reads instead.
 */
#ifndef GW_CONNECTOR_H
#define GW_CONNECTOR_H

#include <sys/types.h>

/* A non-blocking socket listening to process events; -1 with errno. */
int	connector_open(void);

/* One process (not thread) exit: its PID, its parent's, its wait status. */
typedef void connector_exit_fn(pid_t, pid_t, int, void *);
/* Read every pending message on fd, calling fn for each exit. */
void	connector_drain(int, connector_exit_fn *, void *);

#endif
