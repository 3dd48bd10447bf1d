/* SPDX-License-Identifier: MIT */
/*
 * signame.c: signal numbers to names.
 *
 * A table rather than glibc's sigabbrev_np(3) (2.32 and later only, and
 * not in other C libraries); the numbers come from <signal.h>, so the
 * table is right on every architecture Linux numbers differently.
 * Real-time signals, which the wrapper never sends or handles, are just
 * "signal N".
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "signame.h"

#define SIG(s)	{ s, #s }

static const struct {
	int		 sig;
	const char	*name;
} signames[] = {
	SIG(SIGHUP), SIG(SIGINT), SIG(SIGQUIT), SIG(SIGILL), SIG(SIGTRAP),
	SIG(SIGABRT), SIG(SIGBUS), SIG(SIGFPE), SIG(SIGKILL), SIG(SIGUSR1),
	SIG(SIGSEGV), SIG(SIGUSR2), SIG(SIGPIPE), SIG(SIGALRM), SIG(SIGTERM),
#ifdef SIGSTKFLT
	SIG(SIGSTKFLT),
#endif
	SIG(SIGCHLD), SIG(SIGCONT), SIG(SIGSTOP), SIG(SIGTSTP), SIG(SIGTTIN),
	SIG(SIGTTOU), SIG(SIGURG), SIG(SIGXCPU), SIG(SIGXFSZ), SIG(SIGVTALRM),
	SIG(SIGPROF), SIG(SIGWINCH), SIG(SIGIO),
#ifdef SIGPWR
	SIG(SIGPWR),
#endif
	SIG(SIGSYS),
};

const char *
signame(int sig)
{
	static char	buf[32];
	size_t		i;

	for (i = 0; i < sizeof signames / sizeof signames[0]; i++) {
		if (signames[i].sig == sig)
			return signames[i].name;
	}
	snprintf(buf, sizeof buf, "signal %d", sig);
	return buf;
}
