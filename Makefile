# SPDX-License-Identifier: MIT
# gunicorn-wrapper: hand-written GNU Makefile.
#
#   make            build gunicorn-wrapper
#   make test       build, lint the man pages, run unit then integration tests
#   make check      make test, then again under ASan and UBSan (what CI runs)
#   make install    install under $(DESTDIR)$(PREFIX), the systemd unit
#                   under $(DESTDIR)$(SYSTEMDUNITDIR)
#
# Our warning flags come before the user's CFLAGS so a user can add to them;
# -Werror is ours and stays.  CPPFLAGS, CFLAGS and LDFLAGS are honoured.

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
DATADIR	?= $(PREFIX)/share
DOCDIR	?= $(DATADIR)/doc/gunicorn-wrapper
COMPLETIONDIR ?= $(DATADIR)/bash-completion/completions
VERSION	:= 0.1.0

CC	?= cc
PKG_CONFIG ?= pkg-config

# msgpack-c 6 (Debian 13, Ubuntu 25.04 on) names its pkg-config module
# msgpack-c; before it, msgpack.  Take the first one pkg-config knows, and
# stop with one line if neither (except for targets that build nothing).
MSGPACK_PC := $(firstword $(foreach m,msgpack-c msgpack,\
	$(shell $(PKG_CONFIG) --exists $(m) 2>/dev/null && echo $(m))))
NO_BUILD_GOALS := clean uninstall lint-man
ifeq ($(MSGPACK_PC),)
ifneq ($(filter-out $(NO_BUILD_GOALS),$(or $(MAKECMDGOALS),all)),)
$(error msgpack-c not found: pkg-config knows neither msgpack-c nor msgpack (install libmsgpack-c-dev or libmsgpack-dev, or set PKG_CONFIG_PATH))
endif
endif
PKGS	:= libevent $(MSGPACK_PC)
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

WARN	:= -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
GW_CFLAGS := $(WARN) -D_GNU_SOURCE -DGW_VERSION='"$(VERSION)"' \
	   $(PKG_CFLAGS) -MMD -MP
CFLAGS	?= -O2 -g

# Each directory sees only the headers it may use, so the build itself
# enforces daemon -> common <- client: a daemon file that includes a client
# header (or common one that includes either) does not compile.
INC	 = -Icommon
daemon/%.o: INC = -Icommon -Idaemon
client/%.o: INC = -Icommon -Iclient
tests/unit/%.o: INC = -Icommon -Idaemon
tests/fuzz/%.o: INC = -Icommon -Idaemon -Iclient -Itests/fuzz

# make test SANITIZE=1: AddressSanitizer (with LeakSanitizer) and UBSan;
# undefined behaviour aborts instead of printing and carrying on.  Objects
# depend on build.flags, so switching compiler or flags rebuilds them.
ifeq ($(SANITIZE),1)
GW_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all \
	     -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=address,undefined
endif

COMMON_SRC := common/log.c common/xmalloc.c common/parse.c common/clock.c \
	      common/signame.c \
	      common/proto.c common/cmd.c common/setting.c common/utf8.c common/rundir.c common/errbuf.c
DAEMON_SRC := daemon/main.c daemon/options.c daemon/server.c \
	      daemon/gunicorn.c daemon/reload.c daemon/ready.c \
	      daemon/proc.c daemon/history.c daemon/control.c daemon/notify.c \
	      daemon/ledger.c daemon/listen.c daemon/release.c daemon/ctlsock.c \
	      daemon/connector.c daemon/heartbeat.c daemon/lineage.c \
	      daemon/preflight.c
CLIENT_SRC := client/gwctl.c client/parser.c client/cmds.c client/json.c client/escape.c \
	      client/reply.c client/result.c client/show.c client/metrics.c client/conn.c
COMMON_OBJ := $(COMMON_SRC:.c=.o)
DAEMON_OBJ := $(DAEMON_SRC:.c=.o)
CLIENT_OBJ := $(CLIENT_SRC:.c=.o)

UNIT_SRC := tests/unit/test_units.c
UNIT_LIBOBJ := daemon/options.o daemon/proc.o daemon/history.o daemon/ledger.o \
	       daemon/release.o $(COMMON_OBJ)

PYTHON	:= /usr/bin/python3
PYTEST_ARGS ?=

all: gunicorn-wrapper gwctl

gunicorn-wrapper: $(DAEMON_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

gwctl: $(CLIENT_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

FLAGS_ID := $(CC) $(GW_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
build.flags: FORCE
	@echo '$(FLAGS_ID)' | cmp -s - $@ || echo '$(FLAGS_ID)' > $@

%.o: %.c build.flags
	$(CC) $(INC) $(GW_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

tests/unit/test_units: $(UNIT_SRC:.c=.o) $(UNIT_LIBOBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

tests/unit/test_log: tests/unit/test_log.o $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

# The control layer on a real socket: the daemon's modules but main.o.
tests/unit/test_control: tests/unit/test_control.o \
    $(filter-out daemon/main.o,$(DAEMON_OBJ)) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

# The reload's state machine on synthetic events: the same modules, with
# the calls reload.o makes downward replaced by the test's fakes.
RELOAD_FAKES := master_signal master_watch master_signal_children \
	master_describe master_exit_code gunicorn_spawn \
	preflight_start preflight_is preflight_reaped preflight_kill \
	ready_start ready_set_failfast ready_counts ready_reason ready_quiet \
	ready_kill_booting ready_kill_unready ready_term_leftovers \
	ready_kill_dirty ready_master_status ready_free \
	lineage_new_master lineage_orphan_new_master \
	proc_arg_start proc_starttime proc_exists proc_now_ticks pidfile_read \
	proc_children proc_is_zombie \
	ctlsock_hide ctlsock_park ctlsock_shelter ctlsock_recover \
	ctlsock_restore now_mono kill event_add event_del
comma := ,
tests/unit/test_reload: tests/unit/test_reload.o \
    $(filter-out daemon/main.o,$(DAEMON_OBJ)) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) $(foreach f,$(RELOAD_FAKES),-Wl$(comma)--wrap=$(f)) \
	    -o $@ $^ $(PKG_LIBS) -lcmocka

tests/unit/%.o: tests/unit/%.c build.flags
	$(CC) $(INC) $(GW_CFLAGS) -Wno-missing-prototypes $(CPPFLAGS) \
	    $(CFLAGS) -c -o $@ $<

# Fuzz targets: replayed over the corpus and kept crashers by `make unit`,
# fuzzed for real with libFuzzer by `make fuzz` (clang), FUZZ_TIME seconds
# per target.
FUZZ_CLIENT := client/escape.c client/reply.c client/result.c client/show.c client/metrics.c \
	       client/json.c
FUZZ_SRC := tests/fuzz/fuzz_request.c tests/fuzz/fuzz_reply.c daemon/history.c \
	    $(FUZZ_CLIENT) $(COMMON_SRC)
FUZZ_DIRS := tests/fuzz/corpus/request tests/fuzz/corpus/history \
	     tests/fuzz/corpus/reply tests/fuzz/crashers
FUZZ_TIME ?= 60

tests/fuzz/replay: tests/fuzz/replay.o tests/fuzz/fuzz_request.o \
    tests/fuzz/fuzz_reply.o $(FUZZ_CLIENT:.c=.o) daemon/history.o $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

tests/fuzz/%.o: tests/fuzz/%.c build.flags
	$(CC) $(INC) $(GW_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

tests/fuzz/fuzz-%: tests/fuzz/libfuzzer_%.c $(FUZZ_SRC) tests/fuzz/fuzz.h
	clang -g -O1 -std=c11 -D_GNU_SOURCE -Icommon -Idaemon -Iclient -Itests/fuzz \
	    $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -o $@ $< $(FUZZ_SRC) $(PKG_LIBS)

fuzz: tests/fuzz/fuzz-request tests/fuzz/fuzz-history tests/fuzz/fuzz-reply
	for t in request history reply; do \
	    mkdir -p tests/fuzz/work/$$t && \
	    ./tests/fuzz/fuzz-$$t -max_total_time=$(FUZZ_TIME) \
	        -artifact_prefix=tests/fuzz/crashers/$$t- \
	        tests/fuzz/work/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# The Debian package, built in a clean copy of the tree and checked with
# lintian (tools/build-deb; needs dpkg-dev, debhelper, lintian).
deb:
	./tools/build-deb dist

lint-man:
	mandoc -Tlint -Wwarning man/*.[0-9]

unit: tests/unit/test_units tests/unit/test_log tests/unit/test_control \
    tests/unit/test_reload tests/fuzz/replay
	./tests/unit/test_units
	./tests/unit/test_log
	./tests/unit/test_control
	./tests/unit/test_reload
	./tests/fuzz/replay $(FUZZ_DIRS)
	$(PYTHON) tools/include-graph daemon >/dev/null

integration: gunicorn-wrapper gwctl
	GW_BIN=$(CURDIR)/gunicorn-wrapper GWCTL_BIN=$(CURDIR)/gwctl \
	    GW_SANITIZE=$(SANITIZE) GW_IT_MODES=$(GW_IT_MODES) $(PYTHON) -m pytest -q \
	    -p no:cacheprovider $(PYTEST_XDIST) tests/integration $(PYTEST_ARGS)

test: all lint-man unit integration

# make test runs the core tests with setproctitle as installed only
# (GW_IT_MODES=installed), on two pytest workers when pytest-xdist is
# there (most of the suite waits on gunicorn, not on the CPU); make check,
# what CI runs, runs them in both setproctitle modes, then everything
# again under ASan+UBSan (clang) with setproctitle as installed, one test
# at a time: there, a timing is never the neighbour test's load.
GW_IT_MODES ?= installed
PYTEST_JOBS ?= $(shell $(PYTHON) -c 'import xdist' >/dev/null 2>&1 && \
	echo 2 || echo 1)
PYTEST_XDIST = $(if $(filter-out 1,$(PYTEST_JOBS)),-n $(PYTEST_JOBS))

check:
	$(MAKE) test GW_IT_MODES=both PYTEST_JOBS=1
	$(MAKE) test SANITIZE=1 CC=clang GW_IT_MODES=installed PYTEST_JOBS=1

# The reload benchmark: figures to stdout and bench/results/latest.json,
# the timeline plot to doc/reload-timeline.svg; then readiness under churn
# (readiness.json) and release deploys against in-place reloads
# (deploy.json).  Not a test: it asserts nothing, it reports against the
# targets in doc/BENCHMARKS.md.
bench: all
	$(PYTHON) bench/run.py $(BENCH_ARGS)
	$(PYTHON) bench/readiness.py $(READINESS_ARGS)
	$(PYTHON) bench/deploy.py $(DEPLOY_ARGS)

# Examples for the places operators run it, to copy: every file of
# contrib/systemd, contrib/supervisor, contrib/consul-template and
# contrib/ansible, installed under $(DOCDIR)/examples/ in the same
# subdirectories (examples/systemd/, examples/supervisor/,
# examples/consul-template/, examples/ansible/), with the binaries'
# paths rewritten as in the live unit.  The Debian package keeps them
# uncompressed (debian/rules), so that they can be copied as they are.  Only
# gunicorn-wrapper@.service is also installed live: the Type=notify-reload
# variant needs systemd >= 253, and the metrics service and timer are the
# operator's choice (an installed timer would be enabled by
# dh_installsystemd).  The bash completion goes where bash-completion loads
# it on demand.
CONTRIB_DOCS := contrib/systemd/gunicorn-wrapper@.service \
	contrib/systemd/gunicorn-wrapper-notify-reload@.service \
	contrib/systemd/gunicorn-wrapper.default \
	contrib/systemd/gunicorn-wrapper-metrics.service \
	contrib/systemd/gunicorn-wrapper-metrics.timer \
	contrib/supervisor/app.conf \
	contrib/consul-template/README.md \
	contrib/consul-template/app.hcl \
	contrib/consul-template/version.txt.ctmpl \
	contrib/ansible/README.md \
	contrib/ansible/deploy.yml \
	contrib/ansible/inventory.example \
	contrib/ansible/roles/gunicorn_wrapper/defaults/main.yml \
	contrib/ansible/roles/gunicorn_wrapper/library/gwctl_deploy.py \
	contrib/ansible/roles/gunicorn_wrapper/meta/argument_specs.yml \
	contrib/ansible/roles/gunicorn_wrapper/meta/main.yml \
	contrib/ansible/roles/gunicorn_wrapper/tasks/main.yml \
	contrib/ansible/roles/gunicorn_wrapper/tasks/transfer-copy.yml \
	contrib/ansible/roles/gunicorn_wrapper/tasks/transfer-synchronize.yml
EXAMPLESDIR := $(DOCDIR)/examples
EXAMPLES := $(patsubst contrib/%,$(EXAMPLESDIR)/%,$(CONTRIB_DOCS))
# Deepest first, for uninstall's rmdir.
ANSIBLE_ROLE := ansible/roles/gunicorn_wrapper
EXAMPLE_DIRS := $(addprefix $(EXAMPLESDIR)/,systemd supervisor consul-template \
	$(ANSIBLE_ROLE)/defaults $(ANSIBLE_ROLE)/library $(ANSIBLE_ROLE)/meta \
	$(ANSIBLE_ROLE)/tasks $(ANSIBLE_ROLE) ansible/roles ansible)

# The live unit goes where systemd looks for system units: the directory
# systemd.pc names (/lib/systemd/system on Debian 12, /usr/lib/systemd/system
# on 13), else /usr/lib/systemd/system, which systemd always searches.  It
# does not follow PREFIX: systemd does not look under /usr/local/share.
# Its ExecStart= and ExecReload= (and the examples' paths) are rewritten to
# SBINDIR and BINDIR.
ifndef SYSTEMDUNITDIR
SYSTEMDUNITDIR := $(or $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir \
	systemd 2>/dev/null),/usr/lib/systemd/system)
endif
SYSTEMD_UNITS := gunicorn-wrapper@.service
INSTALL_PATHS := -e 's|/usr/sbin/gunicorn-wrapper|$(SBINDIR)/gunicorn-wrapper|g' \
	-e 's|/usr/bin/gwctl|$(BINDIR)/gwctl|g'

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(COMPLETIONDIR) \
	    $(DESTDIR)$(SYSTEMDUNITDIR) \
	    $(addprefix $(DESTDIR),$(EXAMPLE_DIRS))
	install -m 0755 gunicorn-wrapper $(DESTDIR)$(SBINDIR)/gunicorn-wrapper
	install -m 0755 gwctl $(DESTDIR)$(BINDIR)/gwctl
	install -m 0644 man/gunicorn-wrapper.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/gwctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/gunicorn-wrapper-protocol.7 $(DESTDIR)$(MANDIR)/man7/
	install -m 0644 contrib/bash-completion/gwctl \
	    $(DESTDIR)$(COMPLETIONDIR)/gwctl
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 0644 LICENSE $(DESTDIR)$(DOCDIR)/LICENSE
	for u in $(SYSTEMD_UNITS); do \
	    sed $(INSTALL_PATHS) "contrib/systemd/$$u" \
	        > "$(DESTDIR)$(SYSTEMDUNITDIR)/$$u.tmp" && \
	    chmod 0644 "$(DESTDIR)$(SYSTEMDUNITDIR)/$$u.tmp" && \
	    mv "$(DESTDIR)$(SYSTEMDUNITDIR)/$$u.tmp" \
	        "$(DESTDIR)$(SYSTEMDUNITDIR)/$$u" || exit 1; \
	done
	for f in $(CONTRIB_DOCS); do \
	    d="$(DESTDIR)$(EXAMPLESDIR)/$${f#contrib/}" && \
	    sed $(INSTALL_PATHS) "$$f" > "$$d.tmp" && \
	    chmod 0644 "$$d.tmp" && mv "$$d.tmp" "$$d" || exit 1; \
	done

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/gunicorn-wrapper $(DESTDIR)$(BINDIR)/gwctl \
	    $(DESTDIR)$(MANDIR)/man8/gunicorn-wrapper.8 \
	    $(DESTDIR)$(MANDIR)/man1/gwctl.1 \
	    $(DESTDIR)$(MANDIR)/man7/gunicorn-wrapper-protocol.7 \
	    $(DESTDIR)$(COMPLETIONDIR)/gwctl \
	    $(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)$(DOCDIR)/LICENSE \
	    $(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(SYSTEMD_UNITS)) \
	    $(addprefix $(DESTDIR),$(EXAMPLES))
	rmdir $(addprefix $(DESTDIR),$(EXAMPLE_DIRS)) \
	    $(DESTDIR)$(EXAMPLESDIR) $(DESTDIR)$(DOCDIR) 2>/dev/null || true

clean:
	rm -f build.flags gunicorn-wrapper gwctl tests/unit/test_units \
	    tests/unit/test_log tests/unit/test_control tests/unit/test_reload \
	    tests/fuzz/replay tests/fuzz/fuzz-request tests/fuzz/fuzz-history \
	    tests/fuzz/fuzz-reply \
	    tests/fuzz/*.o tests/fuzz/*.d */*.o */*.d \
	    tests/unit/*.o tests/unit/*.d

.PHONY: FORCE all test check bench deb fuzz unit integration lint-man install uninstall clean

-include $(wildcard */*.d tests/unit/*.d tests/fuzz/*.d)
