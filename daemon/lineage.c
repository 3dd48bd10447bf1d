/* SPDX-License-Identifier: MIT */
/*
 * lineage.c: which process is a reload's new master.  gunicorn forks it
 * from the old master on SIGUSR2 and it execs gunicorn again; until it
 * writes PIDFILE.2, and even after (the file can be stale or rewritten),
 * nothing but facts tell it from the old master's workers, its dirty
 * arbiter or a hook's child: whose child it is, when it started, whether
 * it exec'd, whose listening sockets it holds.  Names prove nothing here:
 * setproctitle rewrites them.
 *
 * reload.c looks while forking and when the old master dies; server.c
 * when a restarted wrapper adopts a master that has a new one.
 */
#include <stdlib.h>
#include <unistd.h>

#include "gunicorn.h"
#include "gw.h"
#include "ledger.h"
#include "lineage.h"
#include "proc.h"
#include "ready.h"

/*
 * gunicorn 25+'s dirty arbiter is forked by the master (not exec'd), holds
 * the listeners it inherited and has children of its own, as a new master
 * has: what tells it apart is the dirty workers' heartbeat files it holds.
 */
static int
is_dirty_arbiter(pid_t master, pid_t pid)
{
	pid_t	arb = ready_dirty_arbiter(master, 0);

	return arb != 0 && arb == pid;
}

/*
 * A child of parent that started at or after since, is neither a master
 * we watch nor a zombie, and shows a fact only a new master has: gunicorn
 * named it in PIDFILE.2; it exec'd since its fork (its argv is not where
 * old's was, as a forked worker's is); or it has children of its own
 * while holding the app's listening sockets.  GUNICORN_PID=old in its
 * environment counts too, as a hint that is there before setproctitle
 * blanks it.
 */
pid_t
lineage_new_master(struct gw *gw, pid_t parent, pid_t old,
    unsigned long long old_arg, unsigned long long since)
{
	const char		*errstr;
	const struct ledger	*l = &gw->ledger;
	pid_t			*kids, *grand, found = 0, pid2;
	size_t			 i, n, ng;
	unsigned long long	 arg;

	if (proc_children(parent, &kids, &n) == -1)
		return 0;
	pid2 = pidfile_read(gw->cfg.pidfile2, &errstr);
	for (i = 0; i < n && found == 0; i++) {
		if (master_find(gw, kids[i]) != NULL ||
		    proc_is_zombie(kids[i]) ||
		    (since != 0 && proc_starttime(kids[i]) < since))
			continue;
		arg = proc_arg_start(kids[i]);
		if (kids[i] == pid2 || proc_env_reexec_of(kids[i], old) == 1 ||
		    (arg != 0 && old_arg != 0 && arg != old_arg))
			found = kids[i];
		else if (proc_children(kids[i], &grand, &ng) == 0) {
			if (ng > 0 && (l->nlisteners == 0 || proc_holds_any(
			    kids[i], l->listeners, l->nlisteners)) &&
			    !is_dirty_arbiter(parent, kids[i]))
				found = kids[i];
			free(grand);
		}
	}
	free(kids);
	return found;
}

/* Ours, started after the SIGUSR2, holding the app's listeners. */
pid_t
lineage_orphan_new_master(struct gw *gw, unsigned long long usr2_tick)
{
	const struct ledger	*l = &gw->ledger;
	const char		*errstr;
	pid_t			 pid;

	if ((pid = pidfile_read(gw->cfg.pidfile2, &errstr)) <= 0 ||
	    proc_is_zombie(pid) || proc_uid(pid) != geteuid() ||
	    usr2_tick == 0 || proc_starttime(pid) < usr2_tick ||
	    l->nlisteners == 0 ||
	    !proc_holds_any(pid, l->listeners, l->nlisteners))
		return 0;
	return pid;
}
