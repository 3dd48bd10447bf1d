/*
 * gwctl.c: the control client.  Operators and deploy scripts use it to see
 * a wrapper's state and to reload with zero downtime, waiting for the real
 * outcome:
 *
 *	gwctl reload app && echo deployed
 *
 * It sends one msgpack request (proto.h) per invocation and prints the
 * reply for people, or as JSON with --json.  Its exit status is the
 * contract for scripts: 0 success, 1 the daemon refused or the operation
 * failed, 2 usage, 3 the daemon could not be reached; every error is one
 * line that names the socket.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "clock.h"
#include "json.h"
#include "parser.h"
#include "proto.h"
#include "rundir.h"
#include "xmalloc.h"

#ifndef GW_VERSION
#define GW_VERSION "0.1.0"
#endif

#define EXIT_OK		0
#define EXIT_FAILED	1
#define EXIT_USAGE	2
#define EXIT_UNREACH	3

#define DEFAULT_TIMEOUT	10.0	/* for answers that come at once */
#define LIST_TIMEOUT	2.0	/* per daemon, for `status` of all */

/* One reply, decoded; owns its buffer. */
struct reply {
	msgpack_unpacked	 u;
	char			*buf;
	const msgpack_object	*obj;
};

static void
reply_free(struct reply *r)
{
	msgpack_unpacked_destroy(&r->u);
	free(r->buf);
}

/*
 * Send req to the socket at path and read one reply, within timeout
 * seconds (0: no limit).  0, or -1 with err set: the daemon is unreachable.
 */
static int
call(const char *path, const msgpack_sbuffer *req, double timeout,
    struct reply *rep, char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	double			 deadline = timeout > 0 ? now_mono() + timeout : 0;
	size_t			 off = 0, len = 0, cap = 4096, msglen;
	const char		*why;
	ssize_t			 n;
	int			 fd, ms;

	memset(rep, 0, sizeof *rep);
	msgpack_unpacked_init(&rep->u);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "%s: socket path too long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		snprintf(err, errlen, "cannot reach %s: %s", path,
		    errno == ENOENT ? "no such socket (is the daemon "
		    "running?)" : strerror(errno));
		close(fd);
		return -1;
	}
	while (off < req->size) {
		n = send(fd, req->data + off, req->size - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EPIPE || errno == ECONNRESET))
			break;	/* refused at accept: its reply may be there */
		if (n == -1) {
			snprintf(err, errlen, "%s: send: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	rep->buf = xmalloc(cap);
	for (;;) {
		if (len > 0) {
			switch (proto_frame(rep->buf, len, &msglen, &why)) {
			case PROTO_COMPLETE:
				goto done;
			case PROTO_INVALID:
				snprintf(err, errlen, "%s: bad reply: %s",
				    path, why);
				close(fd);
				return -1;
			case PROTO_INCOMPLETE:
				break;
			}
		}
		ms = -1;
		if (deadline > 0) {
			ms = (int)((deadline - now_mono()) * 1000);
			if (ms <= 0) {
				snprintf(err, errlen, "no answer from %s "
				    "within %g s", path, timeout);
				close(fd);
				return -1;
			}
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, ms) == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "poll: %s", strerror(errno));
			close(fd);
			return -1;
		}
		if (pfd.revents == 0)
			continue;
		if (len == cap) {
			cap *= 2;
			rep->buf = xreallocarray(rep->buf, cap, 1);
		}
		n = read(fd, rep->buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == ECONNRESET && len > 0)
			n = 0;
		if (n <= 0) {
			snprintf(err, errlen, "%s closed the connection%s%s",
			    path, n == -1 ? ": " : " without an answer",
			    n == -1 ? strerror(errno) : "");
			close(fd);
			return -1;
		}
		len += (size_t)n;
	}
done:
	close(fd);
	off = 0;
	if (msgpack_unpack_next(&rep->u, rep->buf, msglen, &off) !=
	    MSGPACK_UNPACK_SUCCESS || rep->u.data.type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "%s: malformed reply", path);
		return -1;
	}
	rep->obj = &rep->u.data;
	return 0;
}

/* Accessors that tolerate a missing or mistyped field. */
static const char *
get_str(const msgpack_object *m, const char *k, char *buf, size_t size)
{
	const msgpack_object	*o = proto_get(m, k);

	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return NULL;
	snprintf(buf, size, "%.*s", (int)o->via.str.size, o->via.str.ptr);
	return buf;
}

static double
get_num(const msgpack_object *m, const char *k, double dflt)
{
	const msgpack_object	*o = proto_get(m, k);
	double			 v;

	if (o == NULL || proto_number(o, &v) == -1)
		return dflt;
	return v;
}

static int
get_bool(const msgpack_object *m, const char *k)
{
	const msgpack_object	*o = proto_get(m, k);

	return o != NULL && o->type == MSGPACK_OBJECT_BOOLEAN &&
	    o->via.boolean;
}

static void
fmt_duration(double s, char *buf, size_t size)
{
	long	t = (long)s;

	if (t >= 86400)
		snprintf(buf, size, "%ldd%02ldh%02ldm", t / 86400,
		    t % 86400 / 3600, t % 3600 / 60);
	else if (t >= 3600)
		snprintf(buf, size, "%ldh%02ldm%02lds", t / 3600,
		    t % 3600 / 60, t % 60);
	else if (t >= 60)
		snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(buf, size, "%.1fs", s);
}

static void
fmt_pid(const msgpack_object *m, const char *k, char *buf, size_t size)
{
	double	v = get_num(m, k, -1);

	if (v < 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.0f", v);
}

static void
print_history(const msgpack_object *hist)
{
	const msgpack_object	*e;
	char			 started[32], res[16], reason[512], oldm[16],
				 newm[16], dur[32], note[256];
	struct tm		 tm;
	time_t			 t;
	double			 d;
	uint32_t		 i;

	if (hist == NULL || hist->type != MSGPACK_OBJECT_ARRAY ||
	    hist->via.array.size == 0) {
		printf("history:   no reloads yet\n");
		return;
	}
	printf("history:\n");
	printf("  %4s  %-19s  %-7s  %-17s  %8s  %s\n", "ID", "STARTED",
	    "RESULT", "MASTERS", "DURATION", "REASON");
	for (i = 0; i < hist->via.array.size; i++) {
		e = &hist->via.array.ptr[i];
		t = (time_t)get_num(e, "started", 0);
		if (localtime_r(&t, &tm) == NULL ||
		    strftime(started, sizeof started, "%Y-%m-%d %H:%M:%S",
		    &tm) == 0)
			snprintf(started, sizeof started, "?");
		if (get_str(e, "result", res, sizeof res) == NULL)
			snprintf(res, sizeof res, "?");
		fmt_pid(e, "old_master", oldm, sizeof oldm);
		fmt_pid(e, "new_master", newm, sizeof newm);
		d = get_num(e, "duration", -1);
		if (d < 0)
			snprintf(dur, sizeof dur, "-");
		else
			snprintf(dur, sizeof dur, "%.2f s", d);
		if (get_str(e, "reason", reason, sizeof reason) == NULL)
			reason[0] = '\0';
		if (get_str(e, "note", note, sizeof note) != NULL) {
			size_t l = strlen(reason);
			snprintf(reason + l, sizeof reason - l, "%s%s",
			    l ? "; " : "", note);
		}
		printf("  %4.0f  %-19s  %-7s  %7s -> %-7s  %8s%s%s\n",
		    get_num(e, "id", 0), started, res, oldm, newm, dur,
		    reason[0] ? "  " : "", reason);
	}
}

static void
print_status(const msgpack_object *m)
{
	const msgpack_object	*w;
	char			 name[128], state[32], ready[32], up[32],
				 master[16], version[32];
	uint32_t		 i;

	fmt_duration(get_num(m, "uptime", 0), up, sizeof up);
	fmt_pid(m, "master", master, sizeof master);
	printf("%s: %s\n", get_str(m, "name", name, sizeof name) ? name : "?",
	    get_str(m, "state", state, sizeof state) ? state : "?");
	printf("  daemon     pid %.0f, up %s, gunicorn-wrapper %s\n",
	    get_num(m, "pid", 0), up,
	    get_str(m, "version", version, sizeof version) ? version : "?");
	printf("  master     %s\n", master);
	printf("  workers   ");
	w = proto_get(m, "workers");
	if (w == NULL || w->type != MSGPACK_OBJECT_ARRAY ||
	    w->via.array.size == 0)
		printf(" none");
	else
		for (i = 0; i < w->via.array.size; i++)
			printf(" %.0f", (double)w->via.array.ptr[i].via.u64);
	printf("\n");
	printf("  warm-up    %g s (%s)\n", get_num(m, "warmup", 0),
	    get_str(m, "ready", ready, sizeof ready) ? ready : "?");
	printf("  pending    %s\n", get_bool(m, "reload_pending") ?
	    "a reload is queued" : "no reload queued");
	print_history(proto_get(m, "history"));
}

/* One line per daemon, as `supervisorctl status` prints. */
static void
print_status_line(const char *name, const msgpack_object *m)
{
	const msgpack_object	*w, *h, *last;
	char			 state[32], up[32], res[16];
	int			 nw = 0;

	w = proto_get(m, "workers");
	if (w != NULL && w->type == MSGPACK_OBJECT_ARRAY)
		nw = (int)w->via.array.size;
	fmt_duration(get_num(m, "uptime", 0), up, sizeof up);
	if (get_str(m, "state", state, sizeof state) == NULL)
		snprintf(state, sizeof state, "?");
	for (char *p = state; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	printf("%-24s %-12s pid %.0f, master %.0f, %d workers, uptime %s",
	    name, state, get_num(m, "pid", 0), get_num(m, "master", 0), nw,
	    up);
	h = proto_get(m, "history");
	if (h != NULL && h->type == MSGPACK_OBJECT_ARRAY &&
	    h->via.array.size > 0) {
		last = &h->via.array.ptr[h->via.array.size - 1];
		printf(", last reload %.0f %s", get_num(last, "id", 0),
		    get_str(last, "result", res, sizeof res) ? res : "?");
	}
	printf("\n");
}

/*
 * A daemon that answers "permission denied" or "busy" has refused the
 * connection itself: for scripts that is "cannot be reached" (3), not
 * "the operation failed" (1).
 */
static int
refused(const msgpack_object *m)
{
	char	buf[64];

	if (get_bool(m, PROTO_K_OK) ||
	    get_str(m, PROTO_K_ERROR, buf, sizeof buf) == NULL)
		return 0;
	return strcmp(buf, "permission denied") == 0 ||
	    strcmp(buf, "busy") == 0;
}

static void
pack_request(msgpack_sbuffer *sb, const struct ctl_args *a)
{
	msgpack_packer	pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	switch (a->action) {
	case CTL_RELOAD:
	case CTL_RELOAD_ALL:
		msgpack_pack_map(&pk, 2);
		proto_pack_kstr(&pk, PROTO_K_CMD, PROTO_CMD_RELOAD);
		proto_pack_kbool(&pk, PROTO_K_WAIT, a->wait);
		break;
	case CTL_STOP:
		msgpack_pack_map(&pk, 1);
		proto_pack_kstr(&pk, PROTO_K_CMD, PROTO_CMD_STOP);
		break;
	case CTL_SET_WARMUP:
		msgpack_pack_map(&pk, 2);
		proto_pack_kstr(&pk, PROTO_K_CMD, PROTO_CMD_SET_WARMUP);
		proto_pack_kdouble(&pk, PROTO_K_SECONDS, a->seconds);
		break;
	default:
		msgpack_pack_map(&pk, 1);
		proto_pack_kstr(&pk, PROTO_K_CMD, PROTO_CMD_STATUS);
		break;
	}
}

/*
 * A waited-for reload's outcome: "reload 3 ok: master 1 -> 2 in 2.41 s" on
 * stdout, or the failure and its reason on stderr.  prefix names the
 * daemon when several are reloaded.
 */
static void
print_reload(const char *prefix, const msgpack_object *m, int ok)
{
	const msgpack_object	*e = proto_get(m, PROTO_K_RELOAD);
	char			 m1[16], m2[16], buf[512];

	if (e == NULL)
		return;
	fmt_pid(e, "old_master", m1, sizeof m1);
	fmt_pid(e, "new_master", m2, sizeof m2);
	if (ok)
		printf("%s%sreload %.0f ok: master %s -> %s in %.2f s\n",
		    prefix ? prefix : "", prefix ? ": " : "",
		    get_num(e, "id", 0), m1, m2, get_num(e, "duration", 0));
	else
		fprintf(stderr, "gwctl: %s%sreload %.0f failed: %s\n",
		    prefix ? prefix : "", prefix ? ": " : "",
		    get_num(e, "id", 0), get_str(m, PROTO_K_ERROR, buf,
		    sizeof buf) ? buf : "?");
}

/*
 * status or reload --all: every daemon whose socket is in the run
 * directory, in name order, one at a time (a rolling reload on one host).
 * The exit status is the worst seen: 3 unreachable, 1 failed, 0.
 */
static int
all_daemons(const char *dir, const struct ctl_args *a)
{
	struct dirent	**ents;
	struct reply	  rep;
	msgpack_sbuffer	  sb;
	char		  path[4200], name[256], err[512];
	size_t		  len;
	int		  i, n, found = 0, ok, rc = EXIT_OK;

	if ((n = scandir(dir, &ents, NULL, alphasort)) == -1) {
		fprintf(stderr, "gwctl: cannot read run directory %s: %s\n",
		    dir, strerror(errno));
		return EXIT_UNREACH;
	}
	pack_request(&sb, a);
	if (a->json)
		printf("{");
	for (i = 0; i < n; i++) {
		len = strlen(ents[i]->d_name);
		if (len <= 5 || strcmp(ents[i]->d_name + len - 5, ".sock")) {
			free(ents[i]);
			continue;
		}
		snprintf(name, sizeof name, "%.*s", (int)(len - 5),
		    ents[i]->d_name);
		snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name);
		free(ents[i]);
		if (a->json)
			printf("%s\"%s\": ", found ? ", " : "", name);
		found++;
		if (call(path, &sb, a->timeout > 0 ? a->timeout :
		    a->action == CTL_RELOAD_ALL ? 0 : LIST_TIMEOUT,
		    &rep, err, sizeof err) == -1) {
			if (a->json) {
				msgpack_sbuffer	 esb;
				msgpack_unpacked u;
				size_t		 off = 0;

				msgpack_sbuffer_init(&esb);
				proto_error_reply(&esb, err);
				msgpack_unpacked_init(&u);
				if (msgpack_unpack_next(&u, esb.data, esb.size,
				    &off) == MSGPACK_UNPACK_SUCCESS)
					json_print(stdout, &u.data);
				msgpack_unpacked_destroy(&u);
				msgpack_sbuffer_destroy(&esb);
			} else
				printf("%-24s %-12s %s\n", name, "UNREACHABLE",
				    err);
			rc = EXIT_UNREACH;
			reply_free(&rep);
			continue;
		}
		ok = get_bool(rep.obj, PROTO_K_OK);
		if (a->json)
			json_print(stdout, rep.obj);
		else if (!ok && (refused(rep.obj) ||
		    proto_get(rep.obj, PROTO_K_RELOAD) == NULL))
			printf("%-24s %-12s %s: %s\n", name, refused(rep.obj) ?
			    "UNREACHABLE" : "REFUSED", path,
			    get_str(rep.obj, PROTO_K_ERROR, err, sizeof err) ?
			    err : "refused");
		else if (a->action == CTL_RELOAD_ALL && !a->wait)
			printf("%s: reload %.0f requested\n", name,
			    get_num(rep.obj, PROTO_K_ID, 0));
		else if (a->action == CTL_RELOAD_ALL)
			print_reload(name, rep.obj, ok);
		else
			print_status_line(name, rep.obj);
		if (!ok && rc != EXIT_UNREACH)
			rc = refused(rep.obj) ? EXIT_UNREACH : EXIT_FAILED;
		reply_free(&rep);
	}
	free(ents);
	msgpack_sbuffer_destroy(&sb);
	if (a->json)
		printf("}\n");
	if (found == 0 && !a->json) {
		fprintf(stderr, "gwctl: no gunicorn-wrapper sockets in %s\n",
		    dir);
		return EXIT_UNREACH;
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct ctl_args	 a;
	struct reply	 rep;
	msgpack_sbuffer	 sb;
	char		 err[512], *dir, *path = NULL, buf[512];
	const char	*env;
	double		 timeout;
	int		 rc;

	if (parser_parse(argc, argv, &a, err, sizeof err) == -1) {
		fprintf(stderr, "gwctl: %s\n", err);
		return EXIT_USAGE;
	}
	if (a.action == CTL_HELP) {
		parser_usage();
		return EXIT_OK;
	}
	if (a.action == CTL_VERSION) {
		printf("gwctl %s\n", GW_VERSION);
		return EXIT_OK;
	}
	env = getenv("GW_RUN_DIR");
	dir = env != NULL && *env != '\0' ? xstrdup(env) :
	    rundir_default(getenv("XDG_RUNTIME_DIR"));
	if (a.action == CTL_STATUS_ALL || a.action == CTL_RELOAD_ALL) {
		fflush(stdout);
		rc = all_daemons(dir, &a);
		free(dir);
		return rc;
	}
	if (a.socket != NULL)
		path = xstrdup(a.socket);
	else
		xasprintf(&path, "%s/%s.sock", dir, a.name);
	free(dir);

	/* A waiting reload answers when it ends: no limit unless -t. */
	timeout = a.timeout > 0 ? a.timeout :
	    a.action == CTL_RELOAD && a.wait ? 0 : DEFAULT_TIMEOUT;
	pack_request(&sb, &a);
	rc = call(path, &sb, timeout, &rep, err, sizeof err);
	msgpack_sbuffer_destroy(&sb);
	if (rc == -1) {
		fprintf(stderr, "gwctl: %s\n", err);
		reply_free(&rep);
		free(path);
		return EXIT_UNREACH;
	}
	if (a.json) {
		json_print(stdout, rep.obj);
		printf("\n");
	}
	rc = get_bool(rep.obj, PROTO_K_OK) ? EXIT_OK : EXIT_FAILED;
	if (a.action == CTL_RELOAD && a.wait &&
	    proto_get(rep.obj, PROTO_K_RELOAD) != NULL) {
		if (!a.json || rc != EXIT_OK)
			print_reload(NULL, rep.obj, rc == EXIT_OK);
	} else if (rc != EXIT_OK) {
		fprintf(stderr, "gwctl: %s: %s\n", path,
		    get_str(rep.obj, PROTO_K_ERROR, buf, sizeof buf) ? buf :
		    "request failed");
		if (refused(rep.obj))
			rc = EXIT_UNREACH;
	} else if (!a.json) {
		switch (a.action) {
		case CTL_STATUS:
			print_status(rep.obj);
			break;
		case CTL_RELOAD:
			printf("reload %.0f requested\n",
			    get_num(rep.obj, PROTO_K_ID, 0));
			break;
		case CTL_STOP:
			printf("%s: stopping\n", a.name ? a.name : path);
			break;
		case CTL_SET_WARMUP:
			printf("%s: warm-up %g s -> %g s (applies to the next "
			    "reload)\n", a.name ? a.name : path,
			    get_num(rep.obj, PROTO_K_OLD, 0),
			    get_num(rep.obj, PROTO_K_NEW, 0));
			break;
		default:
			break;
		}
	}
	reply_free(&rep);
	free(path);
	return rc;
}
