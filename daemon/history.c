/*
 * history.c: a fixed ring of reload entries.  Bounded by construction, so
 * a fleet's consul-template firing a reload a minute for a year costs the
 * same memory as one reload.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "history.h"

static void
entry_clear(struct reload_entry *e)
{
	free(e->reason);
	free(e->note);
	memset(e, 0, sizeof *e);
}

struct reload_entry *
history_add(struct history *h, unsigned id, enum reload_trigger trigger)
{
	struct reload_entry	*e;

	if (h->count == HISTORY_MAX) {
		entry_clear(&h->e[h->first]);
		h->first = (h->first + 1) % HISTORY_MAX;
		h->count--;
	}
	e = &h->e[(h->first + h->count) % HISTORY_MAX];
	h->count++;
	memset(e, 0, sizeof *e);
	e->id = id;
	e->trigger = trigger;
	e->started = now_real();
	e->duration = -1;
	e->result = RESULT_RUNNING;
	e->t_settle = e->t_fork = e->t_warmup = e->t_drain = e->t_promote = -1;
	return e;
}

const struct reload_entry *
history_at(const struct history *h, unsigned i)
{
	if (i >= h->count)
		return NULL;
	return &h->e[(h->first + i) % HISTORY_MAX];
}

void
history_clear(struct history *h)
{
	while (h->count > 0) {
		entry_clear(&h->e[h->first]);
		h->first = (h->first + 1) % HISTORY_MAX;
		h->count--;
	}
}

const char *
history_trigger_name(enum reload_trigger t)
{
	switch (t) {
	case TRIGGER_SIGNAL:
		return "signal";
	case TRIGGER_CONTROL:
		return "control";
	}
	return "?";
}

const char *
history_result_name(enum reload_result r)
{
	switch (r) {
	case RESULT_RUNNING:
		return "running";
	case RESULT_OK:
		return "ok";
	case RESULT_FAILED:
		return "failed";
	}
	return "?";
}
