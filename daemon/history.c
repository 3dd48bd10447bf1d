/* SPDX-License-Identifier: MIT */
/*
 * history.c: the reload history, in memory and on disk.
 *
 * In memory, a fixed ring of entries: bounded by construction, so a
 * fleet's consul-template firing a reload a minute for a year costs the
 * same memory as one reload.
 *
 * On disk (history.h has the record format), so that the operator's record
 * of what happened survives a restart of the wrapper: each finished
 * reload is appended and fsync'd before it is reported.  Records carry a
 * magic, a length and a CRC, so a torn write at a crash, a truncated file
 * or garbage costs only the records it touches: the loader resynchronises
 * on the next magic and says what it skipped.  The file is compacted to
 * the in-memory entries when it outgrows HISTORY_FILE_MAX.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "history.h"
#include "log.h"
#include "proto.h"
#include "rundir.h"
#include "xmalloc.h"

static int	history_rewrite(const struct history *, const char *);

static void
entry_clear(struct reload_entry *e)
{
	free(e->reason);
	free(e->note);
	free(e->release);
	free(e->old_release);
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
	history_phases_clear(e);
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

/* The phases' keys and names: one table, in the order of the enum. */
static const struct {
	const char	*key;
	const char	*label;
} history_phases[PHASE_COUNT] = {
	[PHASE_CHECK] =		{ PROTO_K_T_CHECK,	"check" },
	[PHASE_SETTLE] =	{ PROTO_K_T_SETTLE,	"settle" },
	[PHASE_FORK] =		{ PROTO_K_T_FORK,	"fork" },
	[PHASE_WARMUP] =	{ PROTO_K_T_WARMUP,	"warm-up" },
	[PHASE_PROBATION] =	{ PROTO_K_T_PROBATION,	"probation" },
	[PHASE_DRAIN] =		{ PROTO_K_T_DRAIN,	"drain" },
	[PHASE_PROMOTE] =	{ PROTO_K_T_PROMOTE,	"promote" },
};

const char *
history_phase_key(enum reload_phase p)
{
	return (unsigned)p < PHASE_COUNT ? history_phases[p].key : NULL;
}

const char *
history_phase_label(enum reload_phase p)
{
	return (unsigned)p < PHASE_COUNT ? history_phases[p].label : NULL;
}

void
history_phases_clear(struct reload_entry *e)
{
	enum reload_phase	p;

	for (p = 0; p < PHASE_COUNT; p++)
		e->t_phase[p] = -1;
}

const char *
history_trigger_name(enum reload_trigger t)
{
	switch (t) {
	case TRIGGER_SIGNAL:
		return PROTO_TRIGGER_SIGNAL;
	case TRIGGER_CONTROL:
		return PROTO_TRIGGER_CONTROL;
	}
	return "?";
}

const char *
history_result_name(enum reload_result r)
{
	switch (r) {
	case RESULT_RUNNING:
		return PROTO_RESULT_RUNNING;
	case RESULT_OK:
		return PROTO_RESULT_OK;
	case RESULT_FAILED:
		return PROTO_RESULT_FAILED;
	}
	return "?";
}

static void
map_opt_double(struct proto_map *m, const char *k, double v)
{
	if (v < 0)
		proto_map_nil(m, k);
	else
		proto_map_double(m, k, v);
}

void
history_pack_entry(msgpack_packer *pk, const struct reload_entry *e)
{
	struct proto_map	m;
	enum reload_phase	p;

	proto_map_init(&m);
	proto_map_int(&m, PROTO_K_ID, e->id);
	proto_map_str(&m, PROTO_K_TRIGGER, history_trigger_name(e->trigger));
	proto_map_double(&m, PROTO_K_STARTED, e->started);
	map_opt_double(&m, PROTO_K_DURATION, e->duration);
	proto_map_str(&m, PROTO_K_RESULT, history_result_name(e->result));
	proto_map_str(&m, PROTO_K_REASON, e->reason);
	proto_map_pid(&m, PROTO_K_OLD_MASTER, e->old_master);
	proto_map_pid(&m, PROTO_K_NEW_MASTER, e->new_master);
	proto_map_int(&m, PROTO_K_WORKERS, e->workers);
	proto_map_str(&m, PROTO_K_NOTE, e->note);
	proto_map_str(&m, PROTO_K_RELEASE, e->release);
	proto_map_str(&m, PROTO_K_OLD_RELEASE, e->old_release);
	proto_map_bool(&m, PROTO_K_DOWN, e->down);
	for (p = 0; p < PHASE_COUNT; p++)
		map_opt_double(&m, history_phases[p].key, e->t_phase[p]);
	proto_map_end(&m, pk);
}

unsigned
history_next_id(const struct history *h)
{
	return h->count ? history_at(h, h->count - 1)->id + 1 : 1;
}

/* CRC-32 (IEEE, as zlib's crc32()), bit by bit: records are small. */
static uint32_t
crc32_ieee(const unsigned char *p, size_t n)
{
	uint32_t	crc = 0xffffffffU;
	int		k;

	while (n-- > 0) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320U & (0U - (crc & 1)));
	}
	return ~crc;
}

static uint32_t
get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* Field accessors for decoding: a missing or mistyped field is "absent",
 * and so is a number outside [lo, hi] (or, for integral, a fraction). */
static double
obj_num(const msgpack_object *m, const char *k, double lo, double hi,
    int integral, double absent)
{
	const msgpack_object	*o = proto_get(m, k);
	double			 v;

	/* In [lo, hi] (all within long long) before the cast: defined. */
	if (o == NULL || proto_number(o, &v) == -1 || !isfinite(v) ||
	    v < lo || v > hi || (integral && v != (double)(long long)v))
		return absent;
	return v == 0 ? 0 : v;	/* not -0 */
}

static double
obj_seconds(const msgpack_object *m, const char *k)
{
	return obj_num(m, k, 0, HISTORY_SECONDS_MAX, 0, -1);
}

static pid_t
obj_pid(const msgpack_object *m, const char *k)
{
	/* In range, so the cast is defined. */
	return (pid_t)obj_num(m, k, 1, HISTORY_PID_MAX, 1, 0);
}

static char *
obj_str(const msgpack_object *m, const char *k)
{
	const msgpack_object	*o = proto_get(m, k);
	char			*s;

	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return NULL;
	s = xmalloc(o->via.str.size + 1);
	memcpy(s, o->via.str.ptr, o->via.str.size);
	s[o->via.str.size] = '\0';
	return s;
}

static void
note_success(struct history *h, const struct reload_entry *e)
{
	if (e->result == RESULT_OK && e->duration >= 0 &&
	    e->started + e->duration > h->last_ok)
		h->last_ok = e->started + e->duration;
}

/* One record's payload into a new history entry: 0, 1 if it replaced
 * the last one (same id), -1 if it is not an entry. */
static int
history_decode(struct history *h, const char *buf, size_t len)
{
	msgpack_unpacked	 u;
	const msgpack_object	*m, *o;
	struct reload_entry	*e;
	size_t			 off = 0;
	double			 id;
	char			*s;
	int			 rc = -1, replaced = 0;
	enum reload_phase	 p;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    u.data.type != MSGPACK_OBJECT_MAP)
		goto out;
	m = &u.data;
	if ((id = obj_num(m, PROTO_K_ID, 1, HISTORY_ID_MAX, 1, -1)) < 0)
		goto out;
	/* Ids only grow: an older one after a newer one is not ours.  The
	 * same id again is a later record of the same reload (its outcome
	 * after a record of its start, say): it replaces the first. */
	if (h->count > 0 && (unsigned)id < history_at(h, h->count - 1)->id)
		goto out;
	if (h->count > 0 && (unsigned)id == history_at(h, h->count - 1)->id) {
		h->count--;
		entry_clear(&h->e[(h->first + h->count) % HISTORY_MAX]);
		replaced = 1;
	}
	e = history_add(h, (unsigned)id, TRIGGER_SIGNAL);
	s = obj_str(m, PROTO_K_TRIGGER);
	e->trigger = s != NULL && strcmp(s, PROTO_TRIGGER_CONTROL) == 0 ?
	    TRIGGER_CONTROL : TRIGGER_SIGNAL;
	free(s);
	e->started = obj_num(m, PROTO_K_STARTED, 0, HISTORY_TIME_MAX, 0, 0);
	e->duration = obj_seconds(m, PROTO_K_DURATION);
	s = obj_str(m, PROTO_K_RESULT);
	e->result = s != NULL && strcmp(s, PROTO_RESULT_OK) == 0 ? RESULT_OK :
	    RESULT_FAILED;
	free(s);
	e->reason = obj_str(m, PROTO_K_REASON);
	if (e->result == RESULT_FAILED && e->reason == NULL)
		e->reason = xstrdup("unknown (history record without reason)");
	e->old_master = obj_pid(m, PROTO_K_OLD_MASTER);
	e->new_master = obj_pid(m, PROTO_K_NEW_MASTER);
	e->workers = (int)obj_num(m, PROTO_K_WORKERS, 0, HISTORY_WORKERS_MAX, 1, 0);
	e->note = obj_str(m, PROTO_K_NOTE);
	e->release = obj_str(m, PROTO_K_RELEASE);
	e->old_release = obj_str(m, PROTO_K_OLD_RELEASE);
	o = proto_get(m, PROTO_K_DOWN);
	e->down = e->result == RESULT_FAILED && o != NULL &&
	    o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
	for (p = 0; p < PHASE_COUNT; p++)
		e->t_phase[p] = obj_seconds(m, history_phases[p].key);
	note_success(h, e);
	rc = replaced;
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}

/*
 * Checking a record's CRC must not cost its length at every candidate
 * header: a file with a magic every 12 bytes, each claiming 4 KB, would
 * checksum every byte hundreds of times (6.5 s for 1 MB).  Instead the
 * parser keeps the CRC of every prefix of the buffer, each byte fed
 * once, and derives a range's CRC from two prefixes, as zlib's
 * crc32_combine() does: crc(B) = crc(AB) ^ crc(A) * x^(8 |B|) mod P.
 * Candidates only move forward and a record is at most
 * HISTORY_RECORD_MAX, so a ring of the last CRC_RING prefixes suffices.
 */
#define CRC_POLY	0xedb88320U
#define CRC_RING	8192	/* > 12 + HISTORY_RECORD_MAX, power of 2 */

struct crc_scan {
	const unsigned char	*p;
	size_t			 len;
	size_t			 hi;		/* prefixes [0, hi] known */
	uint32_t		 reg;		/* register after hi bytes */
	size_t			*work;
	uint32_t		 byte[256];
	uint32_t		 xpow[HISTORY_RECORD_MAX + 1]; /* x^(8n) */
	uint32_t		 ring[CRC_RING];	/* crc of p[0, i) */
};

/* a * b modulo P, both in CRC-32's bit-reflected form (zlib's multmodp). */
static uint32_t
crc_mult(uint32_t a, uint32_t b)
{
	uint32_t	m = 1U << 31, r = 0;

	while (m != 0) {
		if (a & m)
			r ^= b;
		m >>= 1;
		b = b & 1 ? (b >> 1) ^ CRC_POLY : b >> 1;
	}
	return r;
}

static void
crc_scan_init(struct crc_scan *cs, const unsigned char *p, size_t len,
    size_t *work)
{
	uint32_t	c;
	unsigned	i;
	int		k;

	cs->p = p;
	cs->len = len;
	cs->hi = 0;
	cs->reg = 0xffffffffU;
	cs->work = work;
	cs->ring[0] = 0;
	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC_POLY & (0U - (c & 1)));
		cs->byte[i] = c;
	}
	cs->xpow[0] = 1U << 31;		/* x^0 */
	for (i = 1; i <= HISTORY_RECORD_MAX; i++) {
		c = cs->xpow[i - 1];
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC_POLY : c >> 1;
		cs->xpow[i] = c;
	}
}

/* The CRC of p[0, i); i at most CRC_RING - 1 behind the furthest asked. */
static uint32_t
crc_prefix(struct crc_scan *cs, size_t i)
{
	while (cs->hi < i) {
		cs->reg = cs->byte[(cs->reg ^ cs->p[cs->hi]) & 0xff] ^
		    (cs->reg >> 8);
		cs->hi++;
		cs->ring[cs->hi % CRC_RING] = ~cs->reg;
	}
	return cs->ring[i % CRC_RING];
}

/* The CRC of p[a, b): b - a <= HISTORY_RECORD_MAX, a never decreasing. */
static uint32_t
crc_range(struct crc_scan *cs, size_t a, size_t b)
{
	uint32_t	ca, cb;

	if (cs->hi >= CRC_RING && a <= cs->hi - CRC_RING) {
		/* Out of the ring: cannot happen (see above), but be right. */
		*cs->work += b - a;
		return crc32_ieee(cs->p + a, b - a);
	}
	if (b > cs->hi)
		*cs->work += b - cs->hi;
	ca = crc_prefix(cs, a);
	cb = crc_prefix(cs, b);
	return cb ^ crc_mult(cs->xpow[b - a], ca);
}

int
history_parse(struct history *h, const char *buf, size_t len,
    size_t *skipped)
{
	size_t	work = 0;

	return history_parse_counted(h, buf, len, skipped, &work);
}

int
history_parse_counted(struct history *h, const char *buf, size_t len,
    size_t *skipped, size_t *work)
{
	const unsigned char	*p = (const unsigned char *)buf;
	struct crc_scan		*cs;
	size_t			 pos = 0, plen, bad = 0;
	const char		*why;
	const void		*next;
	uint32_t		 rlen, crc;
	int			 n = 0, rc;

	cs = xmalloc(sizeof *cs);
	crc_scan_init(cs, p, len, work);
	while (pos < len) {
		(*work)++;
		if (len - pos < 12 || memcmp(p + pos, HISTORY_MAGIC, 4) != 0)
			goto resync;
		rlen = get_be32(p + pos + 4);
		crc = get_be32(p + pos + 8);
		if (rlen == 0 || rlen > HISTORY_RECORD_MAX ||
		    rlen > len - pos - 12 ||
		    crc_range(cs, pos + 12, pos + 12 + rlen) != crc)
			goto resync;
		/*
		 * The CRC says these bytes were written as one record: if it
		 * is not an entry we can take (another version's, an id out
		 * of order), skip it whole.  Each byte is decoded once.
		 */
		*work += rlen;
		if (proto_frame(buf + pos + 12, rlen, &plen, &why) !=
		    PROTO_COMPLETE || plen != rlen ||
		    (rc = history_decode(h, buf + pos + 12, rlen)) == -1)
			bad += 12 + rlen;
		else if (rc == 0)
			n++;
		pos += 12 + rlen;
		continue;
resync:
		/* Skip to the next magic: one bad record costs only itself. */
		next = memmem(p + pos + 1, len - pos - 1, HISTORY_MAGIC, 4);
		plen = next != NULL ? (size_t)((const unsigned char *)next -
		    (p + pos)) : len - pos;
		*work += plen;
		bad += plen;
		pos += plen;
	}
	free(cs);
	*skipped = bad;
	return n;
}

void
history_set_dir(struct history *h, int dirfd)
{
	h->dirfd = dirfd;
	h->have_dir = 1;
}

/* path + suffix, opened through rundir_open: relative to the run
 * directory when history_set_dir() gave it, else as given. */
static int
history_open(const struct history *h, const char *path, const char *suffix,
    int flags, char *err, size_t errlen)
{
	char		*name;
	const char	*base;
	int		 fd;

	base = h->have_dir && strrchr(path, '/') != NULL ?
	    strrchr(path, '/') + 1 : path;
	xasprintf(&name, "%s%s", base, suffix);
	fd = rundir_open(h->have_dir ? h->dirfd : AT_FDCWD, name, flags,
	    0644, err, errlen);
	free(name);
	return fd;
}

int
history_load(struct history *h, const char *path)
{
	struct stat	 sb;
	char		*buf, err[256];
	size_t		 len = 0, skipped;
	ssize_t		 r;
	off_t		 start = 0;
	int		 fd, n;

	if ((fd = history_open(h, path, "", O_RDONLY, err, sizeof err)) ==
	    -1) {
		if (errno != ENOENT)
			log_warnx("history %s: not loaded: %s", path, err);
		return 0;
	}
	if (fstat(fd, &sb) == -1) {
		log_warn("history %s: not loaded", path);
		close(fd);
		return 0;
	}
	/* A file we did not write may be huge: its tail is what matters. */
	if (sb.st_size > HISTORY_READ_MAX)
		start = sb.st_size - HISTORY_READ_MAX;
	buf = xmalloc(HISTORY_READ_MAX + 1);
	while (len < HISTORY_READ_MAX) {
		r = pread(fd, buf + len, HISTORY_READ_MAX - len,
		    start + (off_t)len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			log_warn("history %s: read", path);
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	n = history_parse(h, buf, len, &skipped);
	free(buf);
	if (skipped > 0 || start > 0)
		log_warnx("history %s: %zu bytes corrupt, truncated or "
		    "too old were skipped; %d reloads loaded", path,
		    skipped + (size_t)start, n);
	else if (n > 0)
		log_info("history %s: %d reloads loaded", path, n);
	if (skipped > 0 || start > 0)
		(void)history_rewrite(h, path);
	return n;
}

/* One record into sb. */
static void
history_record(msgpack_sbuffer *sb, const struct reload_entry *e)
{
	msgpack_sbuffer	 payload;
	msgpack_packer	 pk;
	unsigned char	 hdr[12];

	msgpack_sbuffer_init(&payload);
	msgpack_packer_init(&pk, &payload, msgpack_sbuffer_write);
	history_pack_entry(&pk, e);
	memcpy(hdr, HISTORY_MAGIC, 4);
	put_be32(hdr + 4, (uint32_t)payload.size);
	put_be32(hdr + 8, crc32_ieee((unsigned char *)payload.data,
	    payload.size));
	msgpack_sbuffer_write(sb, (const char *)hdr, sizeof hdr);
	msgpack_sbuffer_write(sb, payload.data, payload.size);
	msgpack_sbuffer_destroy(&payload);
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fsync the directory, so that a rename survives a crash too. */
static void
sync_dir(const struct history *h, const char *path)
{
	char	*dir, *slash;
	int	 fd;

	if (h->have_dir) {
		(void)fsync(h->dirfd);
		return;
	}
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/*
 * Write h's entries to path, atomically: a temp file, fsync, rename.  The
 * temp file is made afresh (whatever was at its name is removed first:
 * unlinking a symlink leaves its target alone), O_EXCL, so nothing
 * planted there is written through.
 */
static int
history_rewrite(const struct history *h, const char *path)
{
	msgpack_sbuffer	 sb;
	char		*tmp, *from, *to, err[256];
	int		 dirfd = h->have_dir ? h->dirfd : AT_FDCWD;
	unsigned	 i;
	int		 fd, rc = -1;

	xasprintf(&tmp, "%s.tmp", path);
	from = h->have_dir && strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp;
	to = h->have_dir && strrchr(path, '/') ? strrchr(path, '/') + 1 :
	    (char *)path;
	msgpack_sbuffer_init(&sb);
	for (i = 0; i < h->count; i++) {
		if (history_at(h, i)->result != RESULT_RUNNING)
			history_record(&sb, history_at(h, i));
	}
	if (unlinkat(dirfd, from, 0) == -1 && errno != ENOENT) {
		log_warn("history %s", tmp);
		goto out;
	}
	if ((fd = history_open(h, path, ".tmp", O_WRONLY | O_CREAT | O_EXCL,
	    err, sizeof err)) == -1) {
		log_warnx("history %s: not rewritten: %s", path, err);
		goto out;
	}
	if (write_all(fd, sb.data, sb.size) == -1 || fsync(fd) == -1) {
		log_warn("history %s", tmp);
		close(fd);
		(void)unlinkat(dirfd, from, 0);
		goto out;
	}
	close(fd);
	if (renameat(dirfd, from, dirfd, to) == -1) {
		log_warn("history: rename %s", tmp);
		(void)unlinkat(dirfd, from, 0);
		goto out;
	}
	sync_dir(h, path);
	rc = 0;
out:
	msgpack_sbuffer_destroy(&sb);
	free(tmp);
	return rc;
}

int
history_append(struct history *h, const char *path,
    const struct reload_entry *e)
{
	msgpack_sbuffer	 sb;
	struct stat	 sb_file;
	char		 err[256];
	int		 fd, rc = -1;

	note_success(h, e);
	msgpack_sbuffer_init(&sb);
	history_record(&sb, e);
	if ((fd = history_open(h, path, "", O_WRONLY | O_APPEND | O_CREAT,
	    err, sizeof err)) == -1) {
		log_warnx("history %s: reload %u not recorded: %s", path,
		    e->id, err);
		goto out;
	}
	if (write_all(fd, sb.data, sb.size) == -1 || fsync(fd) == -1) {
		log_warn("history %s: reload %u not recorded", path, e->id);
		close(fd);
		goto out;
	}
	rc = 0;
	if (fstat(fd, &sb_file) == 0 && sb_file.st_size > HISTORY_FILE_MAX)
		rc = history_rewrite(h, path);
	close(fd);
out:
	msgpack_sbuffer_destroy(&sb);
	return rc;
}
