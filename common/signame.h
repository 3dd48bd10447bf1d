/* SPDX-License-Identifier: MIT */
/*
 * signame.h: a signal's name as operators write it ("SIGTERM"), for log
 * lines and replies; strsignal(3)'s prose ("Stopped (tty input)") is
 * neither greppable nor what kill -s takes.
 */
#ifndef GW_SIGNAME_H
#define GW_SIGNAME_H

/* "SIGTERM"; "signal 42" for a number without a name (real-time ones
 * too), in a static buffer the next such call overwrites. */
const char	*signame(int);

#endif
