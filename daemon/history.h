/*
 * history.h: the record of reloads, one entry per reload, newest last,
 * the last HISTORY_MAX kept.  `gwctl status` shows it; each entry is what
 * the wrapper really knows about one reload.
 */
#ifndef GW_HISTORY_H
#define GW_HISTORY_H

#include <sys/types.h>

#define HISTORY_MAX	50

enum reload_trigger {
	TRIGGER_SIGNAL,
	TRIGGER_CONTROL,
};

enum reload_result {
	RESULT_RUNNING,
	RESULT_OK,
	RESULT_FAILED,
};

struct reload_entry {
	unsigned		 id;
	enum reload_trigger	 trigger;
	double			 started;	/* Unix time */
	double			 duration;	/* < 0 while running */
	enum reload_result	 result;
	char			*reason;	/* NULL when ok */
	char			*note;		/* e.g. old master killed */
	pid_t			 old_master;	/* 0 if none */
	pid_t			 new_master;
	int			 workers;	/* new generation's, when ready */
	/* Phase timings in seconds, < 0 when the phase did not happen. */
	double			 t_settle, t_fork, t_warmup, t_drain, t_promote;
};

struct history {
	struct reload_entry	 e[HISTORY_MAX];
	unsigned		 first;		/* index of the oldest */
	unsigned		 count;
};

/* A new running entry, evicting the oldest when full. */
struct reload_entry *history_add(struct history *, unsigned,
	    enum reload_trigger);
const struct reload_entry *history_at(const struct history *, unsigned);
void	history_clear(struct history *);
const char *history_trigger_name(enum reload_trigger);
const char *history_result_name(enum reload_result);

#endif
