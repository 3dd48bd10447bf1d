/* SPDX-License-Identifier: MIT */
/*
 * clock.h: time in seconds as a double.  Durations use the monotonic
 * clock (immune to NTP steps); what is shown to people uses the wall clock.
 */
#ifndef GW_CLOCK_H
#define GW_CLOCK_H

#include <sys/time.h>

double	now_mono(void);
double	now_real(void);
/* Seconds as the struct timeval libevent takes; negative is 0. */
struct timeval	clock_tv(double);

#endif
