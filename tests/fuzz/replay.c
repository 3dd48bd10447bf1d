/* SPDX-License-Identifier: MIT */
/*
 * replay.c: run every file of the seed corpora and of crashers/ through
 * the fuzz targets, without libFuzzer: the regression half of fuzzing.
 * A crash here is a crash the fuzzer once found, come back.
 *
 *	replay DIR...	(files in request/ and crashers/request-* go to the
 *			 request target, history/ and crashers/history-* to
 *			 the history target, reply/ and crashers/reply-* to
 *			 gwctl's reply target)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int
replay_file(const char *path, int (*target)(const uint8_t *, size_t))
{
	FILE		*f;
	uint8_t		*buf;
	size_t		 n;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		return -1;
	}
	buf = malloc(1 << 20);
	if (buf == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	target(buf, n);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	struct dirent	*de;
	DIR		*d;
	char		 path[4096];
	int		 i, n = 0, bad = 0;
	int		(*target)(const uint8_t *, size_t);

	for (i = 1; i < argc; i++) {
		if ((d = opendir(argv[i])) == NULL) {
			perror(argv[i]);
			return 1;
		}
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.' ||
			    strstr(de->d_name, ".md") != NULL)
				continue;
			target = strstr(argv[i], "history") != NULL ||
			    strncmp(de->d_name, "history-", 8) == 0 ?
			    fuzz_history_one : fuzz_request_one;
			if (strstr(argv[i], "reply") != NULL ||
			    strncmp(de->d_name, "reply-", 6) == 0)
				target = fuzz_reply_one;
			snprintf(path, sizeof path, "%s/%s", argv[i],
			    de->d_name);
			if (replay_file(path, target) == -1)
				bad++;
			n++;
		}
		closedir(d);
	}
	printf("replay: %d inputs, %d unreadable\n", n, bad);
	return bad != 0;
}
