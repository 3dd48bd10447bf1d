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
#include "xmalloc.h"

static int	history_rewrite(const struct history *, const char *);

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
	e->t_check = e->t_settle = e->t_fork = e->t_warmup = e->t_drain =
	    e->t_promote = -1;
	e->t_probation = -1;
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

static void
pack_opt_double(msgpack_packer *pk, const char *k, double v)
{
	if (v < 0)
		proto_pack_knil(pk, k);
	else
		proto_pack_kdouble(pk, k, v);
}

void
history_pack_entry(msgpack_packer *pk, const struct reload_entry *e)
{
	msgpack_pack_map(pk, 17);
	proto_pack_kint(pk, "id", e->id);
	proto_pack_kstr(pk, "trigger", history_trigger_name(e->trigger));
	proto_pack_kdouble(pk, "started", e->started);
	pack_opt_double(pk, "duration", e->duration);
	proto_pack_kstr(pk, "result", history_result_name(e->result));
	proto_pack_kstr(pk, "reason", e->reason);
	proto_pack_kpid(pk, "old_master", e->old_master);
	proto_pack_kpid(pk, "new_master", e->new_master);
	proto_pack_kint(pk, "workers", e->workers);
	proto_pack_kstr(pk, "note", e->note);
	pack_opt_double(pk, "t_check", e->t_check);
	pack_opt_double(pk, "t_settle", e->t_settle);
	pack_opt_double(pk, "t_fork", e->t_fork);
	pack_opt_double(pk, "t_warmup", e->t_warmup);
	pack_opt_double(pk, "t_drain", e->t_drain);
	pack_opt_double(pk, "t_promote", e->t_promote);
	pack_opt_double(pk, "t_probation", e->t_probation);
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

/* Field accessors for decoding: a missing or mistyped field is "absent". */
static double
obj_num(const msgpack_object *m, const char *k, double absent)
{
	const msgpack_object	*o = proto_get(m, k);
	double			 v;

	if (o == NULL || proto_number(o, &v) == -1 || !isfinite(v))
		return absent;
	return v;
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

/* One record's payload into a new history entry; -1 if not an entry. */
static int
history_decode(struct history *h, const char *buf, size_t len)
{
	msgpack_unpacked	 u;
	const msgpack_object	*m;
	struct reload_entry	*e;
	size_t			 off = 0;
	double			 id, pid;
	char			*s;
	int			 rc = -1;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    u.data.type != MSGPACK_OBJECT_MAP)
		goto out;
	m = &u.data;
	id = obj_num(m, "id", -1);
	if (id < 1 || id > 4e9)
		goto out;
	/* Ids only grow: an older one after a newer one is not ours. */
	if (h->count > 0 && (unsigned)id <= history_at(h, h->count - 1)->id)
		goto out;
	e = history_add(h, (unsigned)id, TRIGGER_SIGNAL);
	s = obj_str(m, "trigger");
	e->trigger = s != NULL && strcmp(s, "control") == 0 ?
	    TRIGGER_CONTROL : TRIGGER_SIGNAL;
	free(s);
	e->started = obj_num(m, "started", 0);
	e->duration = obj_num(m, "duration", -1);
	s = obj_str(m, "result");
	e->result = s != NULL && strcmp(s, "ok") == 0 ? RESULT_OK :
	    RESULT_FAILED;
	free(s);
	e->reason = obj_str(m, "reason");
	if (e->result == RESULT_FAILED && e->reason == NULL)
		e->reason = xstrdup("unknown (history record without reason)");
	pid = obj_num(m, "old_master", 0);
	e->old_master = pid > 0 && pid < 4194304 ? (pid_t)pid : 0;
	pid = obj_num(m, "new_master", 0);
	e->new_master = pid > 0 && pid < 4194304 ? (pid_t)pid : 0;
	e->workers = (int)obj_num(m, "workers", 0);
	e->note = obj_str(m, "note");
	e->t_check = obj_num(m, "t_check", -1);
	e->t_settle = obj_num(m, "t_settle", -1);
	e->t_fork = obj_num(m, "t_fork", -1);
	e->t_warmup = obj_num(m, "t_warmup", -1);
	e->t_drain = obj_num(m, "t_drain", -1);
	e->t_promote = obj_num(m, "t_promote", -1);
	e->t_probation = obj_num(m, "t_probation", -1);
	rc = 0;
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}

int
history_parse(struct history *h, const char *buf, size_t len,
    size_t *skipped)
{
	const unsigned char	*p = (const unsigned char *)buf;
	size_t			 pos = 0, plen, bad = 0;
	const char		*why;
	const void		*next;
	uint32_t		 rlen, crc;
	int			 n = 0;

	while (pos < len) {
		if (len - pos < 12 || memcmp(p + pos, HISTORY_MAGIC, 4) != 0)
			goto resync;
		rlen = get_be32(p + pos + 4);
		crc = get_be32(p + pos + 8);
		if (rlen == 0 || rlen > HISTORY_RECORD_MAX ||
		    rlen > len - pos - 12 ||
		    crc32_ieee(p + pos + 12, rlen) != crc ||
		    proto_frame(buf + pos + 12, rlen, &plen, &why) !=
		    PROTO_COMPLETE || plen != rlen ||
		    history_decode(h, buf + pos + 12, rlen) == -1)
			goto resync;
		pos += 12 + rlen;
		n++;
		continue;
resync:
		/* Skip to the next magic: one bad record costs only itself. */
		next = memmem(p + pos + 1, len - pos - 1, HISTORY_MAGIC, 4);
		plen = next != NULL ? (size_t)((const unsigned char *)next -
		    (p + pos)) : len - pos;
		bad += plen;
		pos += plen;
	}
	*skipped = bad;
	return n;
}

int
history_load(struct history *h, const char *path)
{
	struct stat	 sb;
	char		*buf;
	size_t		 len = 0, skipped;
	ssize_t		 r;
	off_t		 start = 0;
	int		 fd, n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("history %s: not loaded", path);
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
sync_dir(const char *path)
{
	char	*dir, *slash;
	int	 fd;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Write h's entries to path, atomically: a temp file, fsync, rename. */
static int
history_rewrite(const struct history *h, const char *path)
{
	msgpack_sbuffer	 sb;
	char		*tmp;
	unsigned	 i;
	int		 fd, rc = -1;

	xasprintf(&tmp, "%s.tmp", path);
	msgpack_sbuffer_init(&sb);
	for (i = 0; i < h->count; i++) {
		if (history_at(h, i)->result != RESULT_RUNNING)
			history_record(&sb, history_at(h, i));
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1) {
		log_warn("history %s", tmp);
		goto out;
	}
	if (write_all(fd, sb.data, sb.size) == -1 || fsync(fd) == -1) {
		log_warn("history %s", tmp);
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		log_warn("history: rename %s", tmp);
		unlink(tmp);
		goto out;
	}
	sync_dir(path);
	rc = 0;
out:
	msgpack_sbuffer_destroy(&sb);
	free(tmp);
	return rc;
}

int
history_append(const struct history *h, const char *path,
    const struct reload_entry *e)
{
	msgpack_sbuffer	 sb;
	struct stat	 sb_file;
	int		 fd, rc = -1;

	msgpack_sbuffer_init(&sb);
	history_record(&sb, e);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) == -1) {
		log_warn("history %s: reload %u not recorded", path, e->id);
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
