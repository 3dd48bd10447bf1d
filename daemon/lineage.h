/* SPDX-License-Identifier: MIT */
/*
 * lineage.h: a reload's new master, found by what it is rather than by
 * what it is called (setproctitle renames gunicorn's processes).
 */
#ifndef GW_LINEAGE_H
#define GW_LINEAGE_H

#include <sys/types.h>

struct gw;

/*
 * Among parent's children, the new master of a reload of old: parent is
 * old itself, or us once old died and its orphans came to us; old_arg is
 * old's proc_arg_start(); since is SIGUSR2's time on the start-time clock
 * (0: any time).  0: none.
 */
pid_t	lineage_new_master(struct gw *, pid_t, pid_t, unsigned long long,
	    unsigned long long);
/* The new master of an adopted old master that died while forking, which
 * re-parented to PID 1, not to us: PIDFILE.2 names it and the facts prove
 * it (SIGUSR2's tick as above).  0: none. */
pid_t	lineage_orphan_new_master(struct gw *, unsigned long long);

#endif
