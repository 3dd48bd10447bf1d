/* SPDX-License-Identifier: MIT */
/*
 * test_log.c: unit tests of common/log.c and common/signame.c.
 *
 * The log helpers write to fd 2; each test points fd 2 at a temporary file
 * for the lines it writes and reads them back, so the formats are checked
 * byte for byte: level words, hidden levels, sd-daemon prefixes when
 * JOURNAL_STREAM names the file, and JSON escaping of what the
 * integration tests cannot easily make the daemon log (control
 * characters, bytes that are not UTF-8, truncation).
 */
#include <sys/stat.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "signame.h"

static int	saved_stderr = -1;
static FILE	*capture;

/* fd 2 to a fresh temporary file. */
static void
capture_start(void)
{
	capture = tmpfile();
	assert_non_null(capture);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fileno(capture), STDERR_FILENO), STDERR_FILENO);
}

/* Restore fd 2; return what was written (static buffer). */
static const char *
capture_end(void)
{
	static char	buf[32768];
	size_t		n;

	assert_int_equal(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	rewind(capture);
	n = fread(buf, 1, sizeof buf - 1, capture);
	buf[n] = '\0';
	fclose(capture);
	return buf;
}

static void
test_signame(void **state)
{
	(void)state;
	assert_string_equal(signame(SIGTERM), "SIGTERM");
	assert_string_equal(signame(SIGTTIN), "SIGTTIN");
	assert_string_equal(signame(SIGKILL), "SIGKILL");
	assert_string_equal(signame(SIGCHLD), "SIGCHLD");
	assert_string_equal(signame(42), "signal 42");
	assert_string_equal(signame(0), "signal 0");
	assert_string_equal(signame(-1), "signal -1");
}

static void
test_parse(void **state)
{
	enum log_level	l;
	enum log_format	f;

	(void)state;
	assert_int_equal(log_level_parse("debug", &l), 0);
	assert_int_equal(l, LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("warn", &l), 0);
	assert_int_equal(l, LOG_LEVEL_WARNING);
	assert_int_equal(log_level_parse("error", &l), 0);
	assert_int_equal(l, LOG_LEVEL_ERROR);
	assert_int_equal(log_level_parse("INFO", &l), -1);
	assert_int_equal(log_level_parse("", &l), -1);
	assert_int_equal(log_format_parse("json", &f), 0);
	assert_int_equal(f, LOG_FORMAT_JSON);
	assert_int_equal(log_format_parse("text", &f), 0);
	assert_int_equal(f, LOG_FORMAT_TEXT);
	assert_int_equal(log_format_parse("yaml", &f), -1);
	assert_string_equal(log_level_name(LOG_LEVEL_NOTICE), "notice");
}

static void
test_text_levels(void **state)
{
	const char	*out;

	(void)state;
	log_init("gunicorn-wrapper", "app");
	log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, NULL);
	capture_start();
	errno = ENOENT;
	log_debug("hidden %d", 1);
	log_info("shown %d", 2);
	log_notice("notable");
	log_warnx("refused");
	log_warn("open x");
	log_error("reload 1 failed: %s", "why");
	assert_int_equal(errno, ENOENT);
	out = capture_end();
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, "] [gunicorn-wrapper] [app] [INFO] shown 2\n"));
	assert_non_null(strstr(out, "] [app] [NOTICE] notable\n"));
	assert_non_null(strstr(out, "] [app] [WARNING] refused\n"));
	assert_non_null(strstr(out, "] [app] [WARNING] open x: No such file or "
	    "directory\n"));
	assert_non_null(strstr(out, "] [app] [ERROR] reload 1 failed: why\n"));
	assert_int_equal(out[0], '[');

	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, NULL);
	capture_start();
	log_warnx("quiet");
	log_error("loud");
	out = capture_end();
	assert_null(strstr(out, "quiet"));
	assert_non_null(strstr(out, "[ERROR] loud"));
}

static void
test_journal_prefix(void **state)
{
	struct stat	 sb;
	char		 js[64];
	const char	*out;

	(void)state;
	log_init("gunicorn-wrapper", "app");
	capture_start();
	assert_int_equal(fstat(STDERR_FILENO, &sb), 0);
	snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)sb.st_dev,
	    (unsigned long long)sb.st_ino);
	log_setup(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT, js);
	log_debug("d");
	log_info("i");
	log_warnx("w");
	log_error("e");
	/* Another stream's numbers, or garbage: no prefix. */
	snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)sb.st_dev,
	    (unsigned long long)sb.st_ino + 1);
	log_setup(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT, js);
	log_info("other");
	log_setup(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT, "12:x");
	log_info("garbage");
	out = capture_end();
	/* journald has the time, the unit and the priority: the message
	 * alone. */
	assert_true(strncmp(out, "<7>d\n<6>i\n<4>w\n<3>e\n[",
	    strlen("<7>d\n<6>i\n<4>w\n<3>e\n[")) == 0);
	assert_null(strstr(out, "[INFO] i"));
	assert_non_null(strstr(out, "[INFO] other\n"));
	assert_non_null(strstr(out, "[INFO] garbage\n"));
}

static void
test_json(void **state)
{
	const char	*out;
	char		 big[4000];

	(void)state;
	log_init("gunicorn-wrapper", "a\"b\\c");
	log_setup(LOG_LEVEL_INFO, LOG_FORMAT_JSON, NULL);
	capture_start();
	log_info("tab\there, nl\nthere, bell\a, del\x7f, caf\xc3\xa9, "
	    "bad \xff\xc3 end, overlong \xc0\xaf, snow \xe2\x98\x83, "
	    "nel \xc2\x85 csi \xc2\x9b end \xc2\xa0");
	log_error("e");
	out = capture_end();
	assert_non_null(strstr(out, "{\"time\":\""));
	assert_non_null(strstr(out, "\",\"level\":\"info\",\"name\":"
	    "\"a\\\"b\\\\c\",\"message\":\"tab\\there, nl\\nthere, bell\\u0007, "
	    "del\\u007f, caf\xc3\xa9, bad \\ufffd\\ufffd end, overlong "
	    "\\ufffd\\ufffd, snow \xe2\x98\x83, nel \\u0085 csi \\u009b end "
	    "\xc2\xa0\"}\n"));
	assert_non_null(strstr(out, "\"level\":\"error\""));

	/* An event's fields, each only when set, the reason escaped. */
	capture_start();
	log_event(LOG_LEVEL_ERROR, &(struct log_event){
	    .event = "reload_failed", .reload_id = 7, .result = "failed",
	    .has_duration = 1, .duration_s = 1.5, .old_master = 10,
	    .reason = "a \"quote\"" }, "reload 7 failed");
	log_event(LOG_LEVEL_INFO, &(struct log_event){ .event = "exit",
	    .has_exit_status = 1 }, "exiting with status 0");
	out = capture_end();
	assert_non_null(strstr(out, "\"message\":\"reload 7 failed\","
	    "\"event\":\"reload_failed\",\"reload_id\":7,"
	    "\"result\":\"failed\",\"duration_s\":1.500,\"old_master\":10,"
	    "\"reason\":\"a \\\"quote\\\"\"}\n"));
	assert_non_null(strstr(out, "\"message\":\"exiting with status 0\","
	    "\"event\":\"exit\",\"exit_status\":0}\n"));

	/* Longer than a line holds: truncated, still one valid object. */
	memset(big, '"', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	log_setup(LOG_LEVEL_INFO, LOG_FORMAT_JSON, NULL);
	capture_start();
	log_info("%s", big);
	out = capture_end();
	assert_true(strlen(out) > 2000);
	assert_string_equal(out + strlen(out) - 3, "\"}\n");
	assert_true(strchr(out, '\n') == out + strlen(out) - 1);
	/* no dangling backslash before the closing quote */
	assert_true(out[strlen(out) - 4] == '"' && out[strlen(out) - 5] == '\\');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signame),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_text_levels),
		cmocka_unit_test(test_journal_prefix),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
