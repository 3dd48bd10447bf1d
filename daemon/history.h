/* SPDX-License-Identifier: MIT */
/*
 * history.h: the record of reloads, one entry per reload, newest last,
 * the last HISTORY_MAX kept.  `gwctl status` shows it; each entry is what
 * the wrapper really knows about one reload.
 */
#ifndef GW_HISTORY_H
#define GW_HISTORY_H

#include <sys/types.h>

#include <msgpack.h>

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

/* The timed phases of a reload, in the order a reload goes through them
 * (reload.c maps its states onto them: reload_phase_of()). */
enum reload_phase {
	PHASE_CHECK,
	PHASE_SETTLE,
	PHASE_FORK,
	PHASE_WARMUP,
	PHASE_PROBATION,
	PHASE_DRAIN,
	PHASE_PROMOTE,
	PHASE_COUNT
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
	/* Release mode: the release deployed, and the one serving before
	 * (real paths); NULL otherwise. */
	char			*release;
	char			*old_release;
	int			 down;		/* failed, and nothing serves */
	/* Phase timings in seconds, < 0 when the phase did not happen. */
	double			 t_phase[PHASE_COUNT];
};

struct history {
	struct reload_entry	 e[HISTORY_MAX];
	unsigned		 first;		/* index of the oldest */
	unsigned		 count;
	int			 dirfd;		/* the run directory's */
	int			 have_dir;	/* else paths as given */
	/* When the newest successful reload seen ended (Unix time; 0: none),
	 * kept when its entry leaves the last HISTORY_MAX: what "no good
	 * deploy since" is measured from. */
	double			 last_ok;
};

/*
 * The history file, RUN_DIR/NAME.history: append-only, one record per
 * finished reload, fsync'd before the reload is reported.  A record is
 * "GWH1", a 32-bit big-endian length and CRC-32 of the payload, then the
 * payload: the entry as a msgpack map, exactly as the protocol sends it.
 * Compacted to the last HISTORY_MAX entries past HISTORY_FILE_MAX bytes.
 */
#define HISTORY_MAGIC		"GWH1"
#define HISTORY_RECORD_MAX	4096
#define HISTORY_FILE_MAX	(64 * 1024)
#define HISTORY_READ_MAX	(1024 * 1024)

/*
 * Numbers read back are range-checked, never cast blindly: an id that is
 * not an integer in [1, HISTORY_ID_MAX], or below the previous record's,
 * makes the record invalid (skipped); the same id again is a later record
 * of the same reload and replaces the previous one.  Any other number out
 * of range reads as absent (started 0, durations and phase times -1, PIDs
 * and workers 0) and the record stays.
 */
#define HISTORY_ID_MAX		4000000000U
#define HISTORY_TIME_MAX	1e10	/* started: Unix time, year 2286 */
#define HISTORY_SECONDS_MAX	1e6	/* a duration or phase time */
#define HISTORY_PID_MAX		4194304	/* Linux's PID_MAX_LIMIT */
#define HISTORY_WORKERS_MAX	100000

/* The history file is RUN_DIR/NAME.history: open it (and NAME.history.tmp)
 * relative to the run directory's descriptor, through rundir_open().
 * Without this call, paths are opened as given (the unit tests). */
void	history_set_dir(struct history *, int);
/* Read the file into h (which must be empty); a corrupt or truncated
 * part is logged and skipped, never fatal.  Returns entries loaded. */
int	history_load(struct history *, const char *);
/* Parse records from a buffer (history_load's work; fuzzed on its own).
 * Returns entries loaded; *skipped counts bytes not understood.  Its
 * time is linear in the length, whatever the bytes: each byte is
 * checksummed once, decoded at most once and scanned for a magic at most
 * once.  history_parse_counted() also adds that work to *work (bytes,
 * plus one per record header tried) for the tests to hold it to this. */
int	history_parse(struct history *, const char *, size_t, size_t *);
int	history_parse_counted(struct history *, const char *, size_t,
	    size_t *, size_t *);
/* Append one finished entry, fsync; compact when the file is too big.
 * 0, or -1 logged: the reload's outcome stands either way.  A success
 * moves last_ok, as a successful record read by history_parse() does. */
int	history_append(struct history *, const char *,
	    const struct reload_entry *);
/* The entry as a msgpack map (protocol and file alike). */
void	history_pack_entry(msgpack_packer *, const struct reload_entry *);
/* The id after the newest entry (1 when empty). */
unsigned history_next_id(const struct history *);

/* A new running entry, evicting the oldest when full. */
struct reload_entry *history_add(struct history *, unsigned,
	    enum reload_trigger);
const struct reload_entry *history_at(const struct history *, unsigned);
void	history_clear(struct history *);
const char *history_trigger_name(enum reload_trigger);
/* A phase's protocol key ("t_warmup") and its name in logs ("warm-up");
 * NULL out of range. */
const char *history_phase_key(enum reload_phase);
const char *history_phase_label(enum reload_phase);
/* Every phase time of e to -1: none happened yet. */
void	history_phases_clear(struct reload_entry *);
const char *history_result_name(enum reload_result);

#endif
