/*
 * rundir.c: see rundir.h.
 */
#include <unistd.h>

#include "rundir.h"
#include "xmalloc.h"

char *
rundir_default(const char *xdg)
{
	char	*dir;

	if (geteuid() == 0)
		return xstrdup("/run/gunicorn-wrapper");
	if (xdg != NULL && *xdg == '/') {
		xasprintf(&dir, "%s/gunicorn-wrapper", xdg);
		return dir;
	}
	xasprintf(&dir, "/tmp/gunicorn-wrapper-%u", (unsigned)geteuid());
	return dir;
}
