# gunicorn-wrapper: hand-written GNU Makefile.
#
#   make            build gunicorn-wrapper
#   make test       build, lint the man pages, run unit then integration tests
#   make check      make test, then again under ASan and UBSan (what CI runs)
#   make install    install under $(DESTDIR)$(PREFIX)
#
# Our warning flags come before the user's CFLAGS so a user can add to them;
# -Werror is ours and stays.

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
DATADIR	?= $(PREFIX)/share
DOCDIR	?= $(DATADIR)/doc/gunicorn-wrapper
COMPLETIONDIR ?= $(DATADIR)/bash-completion/completions
VERSION	:= 0.1.0

CC	?= cc
PKGS	:= libevent msgpack
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))

WARN	:= -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
GW_CFLAGS := $(WARN) -D_GNU_SOURCE -DGW_VERSION='"$(VERSION)"' \
	   -Icommon -Idaemon -Iclient $(PKG_CFLAGS) -MMD -MP
CFLAGS	?= -O2 -g

# make test SANITIZE=1: AddressSanitizer (with LeakSanitizer) and UBSan;
# undefined behaviour aborts instead of printing and carrying on.  Objects
# depend on build.flags, so switching compiler or flags rebuilds them.
ifeq ($(SANITIZE),1)
GW_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all \
	     -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=address,undefined
endif

COMMON_SRC := common/log.c common/xmalloc.c common/parse.c common/clock.c \
	      common/proto.c common/rundir.c
DAEMON_SRC := daemon/main.c daemon/options.c daemon/server.c \
	      daemon/gunicorn.c daemon/reload.c daemon/ready.c \
	      daemon/proc.c daemon/history.c daemon/control.c daemon/notify.c
CLIENT_SRC := client/gwctl.c client/parser.c client/json.c
COMMON_OBJ := $(COMMON_SRC:.c=.o)
DAEMON_OBJ := $(DAEMON_SRC:.c=.o)
CLIENT_OBJ := $(CLIENT_SRC:.c=.o)

UNIT_SRC := tests/unit/test_units.c
UNIT_LIBOBJ := daemon/options.o daemon/proc.o daemon/history.o $(COMMON_OBJ)

PYTHON	:= /usr/bin/python3
PYTEST_ARGS ?=

all: gunicorn-wrapper gwctl

gunicorn-wrapper: $(DAEMON_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

gwctl: $(CLIENT_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

FLAGS_ID := $(CC) $(GW_CFLAGS) $(CFLAGS) $(LDFLAGS)
build.flags: FORCE
	@echo '$(FLAGS_ID)' | cmp -s - $@ || echo '$(FLAGS_ID)' > $@

%.o: %.c build.flags
	$(CC) $(GW_CFLAGS) $(CFLAGS) -c -o $@ $<

tests/unit/test_units: $(UNIT_SRC:.c=.o) $(UNIT_LIBOBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

tests/unit/%.o: tests/unit/%.c build.flags
	$(CC) $(GW_CFLAGS) -Wno-missing-prototypes $(CFLAGS) -c -o $@ $<

# Fuzz targets: replayed over the corpus and kept crashers by `make unit`,
# fuzzed for real with libFuzzer by `make fuzz` (clang), FUZZ_TIME seconds
# per target.
FUZZ_SRC := tests/fuzz/fuzz_request.c daemon/history.c $(COMMON_SRC)
FUZZ_DIRS := tests/fuzz/corpus/request tests/fuzz/corpus/history \
	     tests/fuzz/crashers
FUZZ_TIME ?= 60

tests/fuzz/replay: tests/fuzz/replay.o tests/fuzz/fuzz_request.o \
    daemon/history.o $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

tests/fuzz/%.o: tests/fuzz/%.c build.flags
	$(CC) $(GW_CFLAGS) -Itests/fuzz $(CFLAGS) -c -o $@ $<

tests/fuzz/fuzz-%: tests/fuzz/libfuzzer_%.c $(FUZZ_SRC) tests/fuzz/fuzz.h
	clang -g -O1 -std=c11 -D_GNU_SOURCE -Icommon -Idaemon -Itests/fuzz \
	    $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -o $@ $< $(FUZZ_SRC) $(PKG_LIBS)

fuzz: tests/fuzz/fuzz-request tests/fuzz/fuzz-history
	for t in request history; do \
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

unit: tests/unit/test_units tests/fuzz/replay
	./tests/unit/test_units
	./tests/fuzz/replay $(FUZZ_DIRS)

integration: gunicorn-wrapper gwctl
	GW_BIN=$(CURDIR)/gunicorn-wrapper GWCTL_BIN=$(CURDIR)/gwctl \
	    GW_SANITIZE=$(SANITIZE) $(PYTHON) -m pytest -q \
	    -p no:cacheprovider tests/integration $(PYTEST_ARGS)

test: all lint-man unit integration

# What CI runs: the whole suite, then again with ASan+UBSan (clang).
check: test
	$(MAKE) test SANITIZE=1 CC=clang

# The reload benchmark: figures to stdout and bench/results/latest.json,
# the timeline plot to doc/reload-timeline.svg.  Not a test: it asserts
# nothing, it reports against the targets in doc/BENCHMARKS.md.
bench: all
	$(PYTHON) bench/run.py $(BENCH_ARGS)
	$(PYTHON) bench/readiness.py $(READINESS_ARGS)

# Examples for the places operators run it, installed as documentation
# under $(DOCDIR)/contrib (the Debian package also installs the systemd
# unit with dh_installsystemd); the bash completion goes where
# bash-completion loads it on demand.
CONTRIB_DOCS := contrib/systemd/gunicorn-wrapper@.service \
	contrib/systemd/gunicorn-wrapper-notify-reload@.service \
	contrib/systemd/gunicorn-wrapper.default \
	contrib/supervisor/app.conf \
	contrib/consul-template/README.md \
	contrib/consul-template/app.hcl \
	contrib/consul-template/version.txt.ctmpl
CONTRIB_DIRS := contrib/systemd contrib/supervisor contrib/consul-template

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(COMPLETIONDIR) \
	    $(addprefix $(DESTDIR)$(DOCDIR)/,$(CONTRIB_DIRS))
	install -m 0755 gunicorn-wrapper $(DESTDIR)$(SBINDIR)/gunicorn-wrapper
	install -m 0755 gwctl $(DESTDIR)$(BINDIR)/gwctl
	install -m 0644 man/gunicorn-wrapper.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/gwctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 contrib/bash-completion/gwctl \
	    $(DESTDIR)$(COMPLETIONDIR)/gwctl
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	for f in $(CONTRIB_DOCS); do \
	    install -m 0644 "$$f" "$(DESTDIR)$(DOCDIR)/$$f" || exit 1; \
	done

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/gunicorn-wrapper $(DESTDIR)$(BINDIR)/gwctl \
	    $(DESTDIR)$(MANDIR)/man8/gunicorn-wrapper.8 \
	    $(DESTDIR)$(MANDIR)/man1/gwctl.1 \
	    $(DESTDIR)$(COMPLETIONDIR)/gwctl \
	    $(DESTDIR)$(DOCDIR)/README.md \
	    $(addprefix $(DESTDIR)$(DOCDIR)/,$(CONTRIB_DOCS))
	rmdir $(addprefix $(DESTDIR)$(DOCDIR)/,$(CONTRIB_DIRS)) \
	    $(DESTDIR)$(DOCDIR)/contrib $(DESTDIR)$(DOCDIR) 2>/dev/null || true

clean:
	rm -f build.flags gunicorn-wrapper gwctl tests/unit/test_units \
	    tests/fuzz/replay tests/fuzz/fuzz-request tests/fuzz/fuzz-history \
	    tests/fuzz/*.o tests/fuzz/*.d */*.o */*.d \
	    tests/unit/*.o tests/unit/*.d

.PHONY: FORCE all test check bench deb fuzz unit integration lint-man install uninstall clean

-include $(wildcard */*.d tests/unit/*.d tests/fuzz/*.d)
