/* SPDX-License-Identifier: MIT */
/*
 * control.h: the control socket.  A Unix stream socket speaking the
 * msgpack protocol of proto.h, served from the event loop without ever
 * blocking it: `gwctl` and deploy scripts send the commands of cmd.h
 * (status, a reload they may wait for, a stop, a new warm-up budget...),
 * each served by the handler control.c binds to its entry.
 */
#ifndef GW_CONTROL_H
#define GW_CONTROL_H

struct gw;

/* Create the socket (refusing if a live daemon answers on it); -1 with
 * a one-line error already printed. */
int	control_init(struct gw *);
/* Write out the replies still queued (for at most CONTROL_FLUSH_MAX s),
 * then close every client and the socket; remove the socket file. */
void	control_free(struct gw *);

#endif
