/* SPDX-License-Identifier: MIT */
/*
 * ledger.h: the record of what the wrapper knows about its gunicorn, kept
 * in RUN_DIR/NAME.record so that a wrapper started after this one was
 * killed can prove what it adopts and finish what this one began: the
 * serving master and its start time, this boot's id, our uid, the
 * listening sockets the master holds (by inode), and any reload in
 * flight (its id, phase, when SIGUSR2 was sent, its old and new masters),
 * and in release mode the release the link must name and the one being
 * deployed.
 */
#ifndef GW_LEDGER_H
#define GW_LEDGER_H

#include <sys/types.h>

#include <stddef.h>

#define LEDGER_LISTENERS_MAX	16
#define LEDGER_FILE_MAX		4096
#define LEDGER_PATH_MAX		1024

struct ledger {
	char			 boot[40];	/* boot_id; "" unknown */
	uid_t			 uid;
	pid_t			 master;	/* 0: none */
	unsigned long long	 master_start;
	unsigned long long	 listeners[LEDGER_LISTENERS_MAX];
	size_t			 nlisteners;
	pid_t			 listeners_of;	/* in memory only: whose */
	/* A reload in flight: id 0 when none. */
	unsigned		 reload_id;
	char			 phase[16];
	unsigned long long	 usr2_tick;	/* 0: SIGUSR2 not sent */
	pid_t			 old, new;
	unsigned long long	 old_start, new_start;
	/* Release mode: the release the link must name (the serving one,
	 * or the new one once it is committed), and the one a reload in
	 * flight deploys; "" when none. */
	char			 release[LEDGER_PATH_MAX];
	char			 target[LEDGER_PATH_MAX];
};

/* 1 and *l filled, 0 if there is no record, -1 and a one-line err. */
int	 ledger_read(const char *, struct ledger *, char *, size_t);
/* Replace the record atomically (temporary file, rename). */
int	 ledger_write(const char *, const struct ledger *, char *, size_t);
/* Remove it (nothing is left to remember); ENOENT is fine. */
int	 ledger_remove(const char *);
/* 1 if l was written during this boot by our uid: worth believing. */
int	 ledger_current(const struct ledger *);
/* 1 if the record's listeners are among the set's (still open). */
int	 ledger_listeners_open(const struct ledger *,
	    const unsigned long long *, size_t);

#endif
